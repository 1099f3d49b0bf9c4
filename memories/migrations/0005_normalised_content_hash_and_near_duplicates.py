"""Near duplicates are linked instead of merged (``near_duplicate_of``), and ``content_hash``
becomes the hash of the normalised text (case, whitespace, punctuation, NFKC).

Existing rows get the new hash unless an older row of the same scope already has it: those get a
hash of their own and stay separate memories, since a migration deletes nothing a client holds.
"""

import hashlib

import django.db.models.deletion
from django.db import migrations, models

# The service's function, imported rather than copied: the migration must compute exactly the
# hash new writes compare against.
from memories.services.drafts import content_hash


def rehash(apps, schema_editor):
    Memory = apps.get_model("memories", "Memory")
    taken = set()
    changed = []
    rows = Memory.objects.order_by("created_at", "pk").only(
        "pk", "user_id", "agent_id", "session_id", "content", "content_hash"
    )
    for memory in rows.iterator(chunk_size=2000):
        new_hash = content_hash(memory.content)
        key = (memory.user_id, memory.agent_id, memory.session_id, new_hash)
        if key in taken:
            # Unique to this row, and never the hash of any text a later write sends.
            new_hash = hashlib.sha256(f"kept-apart:{memory.pk}".encode()).hexdigest()
        taken.add(key)
        if new_hash != memory.content_hash:
            changed.append((memory, new_hash))
    # Two passes: an old hash may equal another row's new one, and the unique constraint is
    # checked row by row.
    for memory, _ in changed:
        memory.content_hash = memory.pk.hex
    Memory.objects.bulk_update([memory for memory, _ in changed], ["content_hash"], batch_size=2000)
    for memory, new_hash in changed:
        memory.content_hash = new_hash
    Memory.objects.bulk_update([memory for memory, _ in changed], ["content_hash"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("memories", "0004_memory_thread_id_without_foreign_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="memory",
            name="near_duplicate_of",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="near_duplicates",
                to="memories.memory",
            ),
        ),
        migrations.RunPython(rehash, migrations.RunPython.noop),
    ]
