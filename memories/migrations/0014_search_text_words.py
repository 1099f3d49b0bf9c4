"""The search column reads a text's words as a query names them (SEARCH_TEXT_SEPARATORS).

PostgreSQL cannot change a generated column's expression: the column (and with it the GIN index
and every heavy user's partial GIN index) is dropped and added again, which rewrites the table.
The heavy users' partial indexes are made again here (not concurrently: a migration holds a
transaction), and their word statistics are marked due, so the periodic sweep recounts them
(until then they are off by the few words the new reading adds or splits).
"""

from datetime import UTC, datetime

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models

SEPARATORS = "[^\\w\\s'-]+"


def _searched_text(field):
    return models.Func(
        models.F(field), models.Value(SEPARATORS), models.Value(" "), models.Value("g"),
        function="regexp_replace", output_field=models.TextField(),
    )  # fmt: skip


SEARCH_VECTOR = models.GeneratedField(
    db_persist=True,
    expression=django.contrib.postgres.search.SearchVector(
        _searched_text("title"), _searched_text("content"), config="english"
    ),
    output_field=django.contrib.postgres.search.SearchVectorField(),
)
GIN = django.contrib.postgres.indexes.GinIndex(
    fields=["search_vector"], name="memories_search_vector"
)


def _heavy_users_text_indexes(apps, schema_editor):
    UserVectorIndex = apps.get_model("memories", "UserVectorIndex")
    KeywordStatistics = apps.get_model("memories", "KeywordStatistics")
    users = UserVectorIndex.objects.filter(status="ready").values_list("user_id", flat=True)
    for user_id in set(users):
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "memories_gin_{user_id.hex}" ON "memories_memory" '
            'USING gin ("search_vector") WHERE "user_id" = %s',
            [str(user_id)],
        )
    KeywordStatistics.objects.update(refreshed_at=datetime(2000, 1, 1, tzinfo=UTC))


class Migration(migrations.Migration):
    dependencies = [
        ("memories", "0013_capture_awaiting_response_not_folded"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="memory", name="search_vector", field=SEARCH_VECTOR
                ),
            ],
            database_operations=[
                migrations.RemoveIndex(model_name="memory", name="memories_search_vector"),
                migrations.RemoveField(model_name="memory", name="search_vector"),
                migrations.AddField(model_name="memory", name="search_vector", field=SEARCH_VECTOR),
                migrations.AddIndex(model_name="memory", index=GIN),
            ],
        ),
        migrations.RunPython(_heavy_users_text_indexes, migrations.RunPython.noop),
    ]
