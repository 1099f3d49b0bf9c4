"""Spaces were made with the team tier (no caps, whatever their owner's plan). From now on a
space has a new account's tier and, with billing on, its owner's (teams.selectors.granted_tier):
existing spaces are brought to the same footing."""

from django.conf import settings
from django.db import migrations

SPACE_EMAIL_SUFFIX = "@spaces.engram.invalid"


def spaces_to_the_default_tier(apps, schema_editor) -> None:
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    User.objects.filter(email__endswith=SPACE_EMAIL_SUFFIX, tier="team").update(
        tier=settings.BILLING_DEFAULT_TIER
    )


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(spaces_to_the_default_tier, migrations.RunPython.noop),
    ]
