"""dj-stripe's migrations, squashed: written by scripts/squash_djstripe_migrations.py."""
