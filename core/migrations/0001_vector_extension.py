from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector for every app with an embedding column; those apps depend on this migration."""

    initial = True
    dependencies = []
    operations = [VectorExtension()]
