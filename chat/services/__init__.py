"""Chat writes, by concern: threads, one turn (prepare and finish), and the work that follows
a finished turn. The public names are re-exported here: callers write
``from chat import services`` or ``from chat.services import ...``.
"""

from chat.services.followups import (
    exchange_remember,
    thread_summarize,
    thread_title_generate,
    turn_followups,
)
from chat.services.threads import (
    TITLE_MAX_CHARS,
    thread_create,
    thread_delete,
    thread_persona_set,
    thread_rename,
    thread_replace,
)
from chat.services.turns import (
    PreparedTurn,
    completion_prepare,
    exchange_save,
    thread_start,
    turn_finish,
    turn_prepare,
)

__all__ = [
    "TITLE_MAX_CHARS",
    "PreparedTurn",
    "completion_prepare",
    "exchange_remember",
    "exchange_save",
    "thread_create",
    "thread_delete",
    "thread_persona_set",
    "thread_rename",
    "thread_replace",
    "thread_start",
    "thread_summarize",
    "thread_title_generate",
    "turn_finish",
    "turn_followups",
    "turn_prepare",
]
