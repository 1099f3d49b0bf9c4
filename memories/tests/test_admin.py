"""The operator console's extraction jobs: status, timing, operations, errors; re-run."""

import pytest
from django.utils import timezone

from memories.models import ExtractionJob, JobStatus, JobTrigger
from memories.tests.conftest import facts_reply

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/memories/extractionjob/"


def job(user, **fields) -> ExtractionJob:
    started = timezone.now() - timezone.timedelta(seconds=2)
    defaults = {
        "model": "gpt-4o-mini",
        "prompt_version": "v1",
        "messages": [{"role": "user", "content": "I live in Berlin."}],
        "started_at": started,
        "finished_at": started + timezone.timedelta(milliseconds=1500),
        "llm_ms": 1400.0,
    }
    return ExtractionJob.objects.create(user=user, **(defaults | fields))


def test_jobs_list_shows_status_timing_operations_and_errors(operator_client, user):
    job(
        user,
        status=JobStatus.SUCCEEDED,
        facts=["a", "b"],
        operations=[{"event": "ADD", "applied": True}, {"event": "NONE", "applied": False}],
    )
    job(user, status=JobStatus.FAILED, error="The model's answer was not valid twice")

    response = operator_client.get(CHANGELIST)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Succeeded" in html and "Failed" in html
    assert '<td class="field-operations_summary">ADD 1 (2 facts)</td>' in html
    assert '<td class="field-duration_ms">1500.0</td>' in html
    assert "was not valid twice" in html


def test_a_job_page_opens_read_only(operator_client, user):
    failed = job(user, status=JobStatus.FAILED, error="boom")

    response = operator_client.get(f"{CHANGELIST}{failed.pk}/change/")

    assert response.status_code == 200
    assert "boom" in response.content.decode()


def test_rerun_action_queues_a_new_job(operator_client, user, llm_upstream, committing):
    failed = job(user, status=JobStatus.FAILED, error="PROVIDER_UNAVAILABLE: down")
    llm_upstream.script(facts_reply("The user lives in Berlin."))

    committing(
        lambda: operator_client.post(
            CHANGELIST, {"action": "rerun", "_selected_action": [str(failed.pk)]}
        )
    )

    rerun = ExtractionJob.objects.get(rerun_of=failed)
    assert (rerun.trigger, rerun.status) == (JobTrigger.RERUN, JobStatus.SUCCEEDED)
