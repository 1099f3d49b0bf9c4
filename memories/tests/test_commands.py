import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from memories.models import Memory, MemoryChunk
from memories.tests.factories import MemoryFactory

pytestmark = pytest.mark.django_db


def test_reembed_switches_models_beside_the_old_vectors_and_resumes(user, settings, embed_now):
    memories = MemoryFactory.create_batch(5, user=user)
    embed_now(*memories)
    old_model = memories[0].embedding_model

    # A "new model": another dimension count gives the hashing embedder another name.
    settings.EMBEDDING_DIMENSIONS = 256
    call_command("reembed", "--batch-size", "2", "--no-progress")

    assert set(MemoryChunk.objects.values_list("model", flat=True)) == {old_model, "hashing-v1@256"}
    assert set(Memory.objects.values_list("embedding_model", flat=True)) == {"hashing-v1@256"}

    call_command("reembed", "--no-progress", "--drop-other-models")  # nothing left to embed
    assert set(MemoryChunk.objects.values_list("model", flat=True)) == {"hashing-v1@256"}
    assert MemoryChunk.objects.count() == 5


def test_memories_stats_reports_counts(user, capsys):
    MemoryFactory.create_batch(2, user=user, provider="claude")

    call_command("memories_stats", "--json")

    report = json.loads(capsys.readouterr().out)
    assert report["memories"] == 2 and report["by_provider"] == {"claude": 2}


def test_prune_with_dry_run_counts_then_deletes_only_older(user, other_user, capsys):
    old = MemoryFactory(user=user)
    Memory.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    MemoryFactory(user=user)
    theirs = MemoryFactory(user=other_user)
    Memory.objects.filter(pk=theirs.pk).update(created_at=timezone.now() - timedelta(days=400))
    cutoff = (timezone.now() - timedelta(days=30)).date().isoformat()

    call_command("prune_memories", "--user", user.email, "--before", cutoff, "--dry-run")
    assert "Would delete 1" in capsys.readouterr().out
    assert Memory.objects.count() == 3

    call_command("prune_memories", "--user", str(user.pk), "--before", cutoff)
    assert not Memory.objects.filter(pk=old.pk).exists()
    assert Memory.objects.filter(user=user).count() == 1
    assert Memory.objects.filter(pk=theirs.pk).exists()


def test_prune_refuses_an_unknown_user_or_date(user):
    with pytest.raises(CommandError):
        call_command("prune_memories", "--user", "nobody@example.com", "--before", "2020-01-01")
    with pytest.raises(CommandError):
        call_command("prune_memories", "--user", user.email, "--before", "last tuesday")
