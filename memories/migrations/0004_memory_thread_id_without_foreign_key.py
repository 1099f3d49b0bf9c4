# Databases migrated with the earlier 0003 hold a foreign-key constraint from
# memories_memory.thread_id to chat_thread; the column and its index stay, the constraint goes.

from django.db import migrations

DROP_THREAD_FOREIGN_KEY = """
DO $$
DECLARE constraint_name text;
BEGIN
    FOR constraint_name IN
        SELECT con.conname FROM pg_constraint con
        JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = ANY (con.conkey)
        WHERE con.conrelid = 'memories_memory'::regclass AND con.contype = 'f'
          AND att.attname = 'thread_id'
    LOOP
        EXECUTE format('ALTER TABLE memories_memory DROP CONSTRAINT %I', constraint_name);
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('memories', '0003_memory_thread'),
    ]

    operations = [
        migrations.RunSQL(DROP_THREAD_FOREIGN_KEY, reverse_sql=migrations.RunSQL.noop),
    ]
