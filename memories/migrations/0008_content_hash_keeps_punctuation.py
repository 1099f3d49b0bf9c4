"""``content_hash`` no longer reads punctuation as a space ("C#" and "C" were one memory):
existing rows get the hash of the new normalisation, by 0005's own pass (a row whose new hash
an older row of its scope already has keeps a hash of its own)."""

from importlib import import_module

from django.db import migrations

rehash = import_module("memories.migrations.0005_normalised_content_hash_and_near_duplicates").rehash


class Migration(migrations.Migration):
    dependencies = [
        ("memories", "0007_search_generation"),
    ]

    operations = [migrations.RunPython(rehash, migrations.RunPython.noop)]
