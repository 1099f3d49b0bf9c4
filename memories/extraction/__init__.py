"""Memory intelligence: extraction jobs turn a conversation into facts and fold them into the
user's memories, so that a newer fact updates or removes an older one instead of piling up.

A job is stored with its conversation (``memories.services.extraction_jobs``; ``queueing``
for a request, a re-run or a recovery) and run by the ``memories.extract`` task, which carries
only its id. One run (``running.extraction_job_run``):

1. claim (``claim``): compare-and-set ``queued`` to ``running`` with a fresh run token; a
   second run of the same job finds nothing to claim;
2. plan (``planning``): ask the LLM (MEMORY_EXTRACTION_MODEL) for short, self-contained facts:
   a JSON answer checked against ``prompts.FACTS_SCHEMA``; an answer that does not parse or
   match is asked for once more with the reason, then the job fails with it and changes
   nothing;
3. per fact, the most similar memories of the same user and scope (agent_id, session_id)
   through the semantic leg of search (``selectors.memories_similar``). Captured exchanges (a
   prompt and its response) are records of a conversation, not facts: never candidates;
4. when there are candidates, ask the LLM to decide per fact ``ADD``, ``UPDATE`` (a memory,
   its new text), ``DELETE`` (a memory the fact contradicts) or ``NONE``, checked likewise
   (memories are shown to it under short ids, so it cannot name one it was not shown);
   without candidates every fact is an ``ADD`` and the second call is not made;
5. apply (``applying``) every decision in one transaction, and only while the job still holds
   its run token; each change goes through the memory services, so it is recorded in the
   memory's history with the job (and can be undone with ``services.memory_revert``). A memory
   changed or deleted since it was shown to the LLM is left alone; so is one a previous fact
   of the same job already changed. The job is marked ``succeeded`` in the same transaction.

``operations`` of a job: one per fact, ``{fact, event, memory_id, text, previous_text, applied,
reason, history_id}``; ``applied`` false with a ``reason`` when nothing was written.
Token usage is recorded by ``llm.services.complete_for_user`` (the user's daily usage).

The public names are re-exported here: callers write ``from memories.extraction import ...``.
"""

from memories.extraction.claim import MAX_ATTEMPTS
from memories.extraction.queueing import (
    extraction_job_create,
    extraction_jobs_recover,
    extraction_jobs_rerun,
)
from memories.extraction.running import extraction_job_run
from memories.services.extraction_jobs import ROLES, extraction_model_check

__all__ = [
    "MAX_ATTEMPTS",
    "ROLES",
    "extraction_job_create",
    "extraction_job_run",
    "extraction_jobs_recover",
    "extraction_jobs_rerun",
    "extraction_model_check",
]
