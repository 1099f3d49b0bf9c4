"""A heavy user's HNSW index in PostgreSQL, checked as their copy's graph is (resident_ann.py).

HNSW on clustered vectors can walk into the wrong part of the space and stay there: at
``make bench-memories`` 5 of 200 of the heavy user's questions found none of their exact top 10
through their index, at ``hnsw.ef_search`` 100, 200 and 400 alike (bench/HISTORY.md). Their
index answers while their copy is reloaded after a write and for filtered searches, so its
answers are checked against the chunks their copy's graph sampled (current or not: a sample only
has to be spread over their vectors). An answer that leaves out more of them than its edge
explains is replaced by the exact search. Without a copy in this process nothing is checked.
"""

from collections.abc import Sequence

from accounts.models import User
from memories.filters import MemoryFilters, memory_filter_q
from memories.models import Memory
from memories.search.resident import resident_sampled_nearer
from memories.search.resident_ann import too_many_missed
from memories.search.vectors import Ranked


def index_stuck(
    *,
    user: User,
    model: str,
    vector: Sequence[float],
    found: Ranked,
    answered: int,
    filters: MemoryFilters,
) -> bool:
    """Whether the index's answer ``found`` (every memory it found, best first, from
    ``answered`` chunks) left out too many of the sampled chunks nearer than its last memory
    that ``filters`` allow."""
    if not found:
        return False
    sampled = resident_sampled_nearer(
        user_id=user.pk, model=model, vector=vector, similarity=found[-1][1]
    )
    if sampled is None:
        return False
    nearer, size, total = sampled
    found_ids = {pk for pk, _ in found}
    unfound = [pk for pk in nearer if pk not in found_ids]
    if not too_many_missed(len(unfound), answered=answered, sampled=size, total=total):
        return False
    # Only those the search could have answered: still there, and passing its filters.
    allowed = set(
        Memory.objects.filter(user=user, pk__in=unfound)
        .filter(memory_filter_q(filters))
        .values_list("pk", flat=True)
    )
    unfound = [pk for pk in unfound if pk in allowed]
    return too_many_missed(len(unfound), answered=answered, sampled=size, total=total)
