from celery import shared_task

from agents.services import agent_runs_expire


@shared_task(name="agents.runs_expire", ignore_result=True, time_limit=300)
def runs_expire() -> int:
    """Delete agent runs past their retention (periodic; running it twice deletes nothing more)."""
    return agent_runs_expire()
