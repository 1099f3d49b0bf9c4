"""Without Redis, tasks wait in the web process's memory: a process that dies loses them. The
rows they were for say what is left (memories still pending, jobs still queued), and the
in-process beat's sweeps send them again. A death is simulated by rows whose task never ran."""

import pytest
from django.utils import timezone

from config.celery import InProcessBeat, start_in_process_beat
from memories import extraction
from memories.models import EmbeddingStatus, ExtractionJob, JobStatus, Memory
from memories.tests.conftest import facts_reply
from memories.tests.factories import MemoryFactory

SWEEPS = ("memories.embed_sweep", "memories.extraction_sweep")
CONVERSATION = [{"role": "user", "content": "I moved to Berlin last month."}]


@pytest.fixture
def beat(settings) -> InProcessBeat:
    """The in-process beat with the memories' sweeps of the real schedule."""
    settings.MEMORY_PENDING_SWEEP_AFTER_SECONDS = 60
    return InProcessBeat({name: settings.CELERY_BEAT_SCHEDULE[name] for name in SWEEPS})


def _left_by_a_dead_process(*memories: Memory) -> None:
    long_ago = timezone.now() - timezone.timedelta(minutes=10)
    Memory.objects.filter(pk__in=[m.pk for m in memories]).update(updated_at=long_ago)


def test_memories_and_jobs_a_dead_process_held_are_picked_up_at_start(
    beat, user, other_user, llm_upstream
):
    lost = [MemoryFactory(user=user, content=f"Lost note {n} about sailing") for n in range(3)]
    _left_by_a_dead_process(*lost)
    job = extraction.extraction_job_create(user=other_user, messages=CONVERSATION)
    ExtractionJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timezone.timedelta(minutes=10)
    )
    llm_upstream.script(facts_reply("The user lives in Berlin."))

    assert set(beat.tick(0.0)) == set(SWEEPS)

    statuses = Memory.objects.filter(pk__in=[m.pk for m in lost]).values_list(
        "embedding_status", flat=True
    )
    assert set(statuses) == {EmbeddingStatus.READY}
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED


def test_the_sweeps_run_again_on_their_schedule_and_twice_change_nothing(beat, user, settings):
    every = settings.CELERY_BEAT_SCHEDULE["memories.embed_sweep"]["schedule"]
    beat.tick(0.0)
    lost = MemoryFactory(user=user, content="Lost while the process was down")
    _left_by_a_dead_process(lost)

    assert beat.tick(every - 1) == []
    lost.refresh_from_db()
    assert lost.embedding_status == EmbeddingStatus.PENDING

    assert "memories.embed_sweep" in beat.tick(every)
    lost.refresh_from_db()
    embedded_at = lost.embedded_at
    assert lost.embedding_status == EmbeddingStatus.READY and lost.chunks.count() == 1

    beat.tick(2 * every)
    lost.refresh_from_db()
    assert lost.embedded_at == embedded_at and lost.chunks.count() == 1


def test_a_young_pending_memory_is_left_to_the_task_that_holds_it(beat, user):
    young = MemoryFactory(user=user, content="Just saved, its task is queued")

    beat.tick(0.0)

    young.refresh_from_db()
    assert young.embedding_status == EmbeddingStatus.PENDING


def test_no_beat_where_tasks_run_inline(settings):
    settings.TASKS_IN_BACKGROUND = False  # the test servers' setting

    assert start_in_process_beat() is None
