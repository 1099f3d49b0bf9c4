"""Game mechanics: what a task is worth, and levels from a total.

A task is worth ``10 * difficulty * priority multiplier`` XP, rounded down, where the multiplier
is 1 for low, 1.5 for medium, 2 for high and 3 for urgent: a medium task of difficulty 1 is
worth 15 XP, an urgent one of difficulty 5 is worth 150.

Level L starts at ``50 * L * (L - 1)`` XP: level 1 at 0, level 2 at 100, level 3 at 300,
level 4 at 600 (each level needs 100 XP more than the one before).
"""

import math
from dataclasses import dataclass

from tasks.models import Priority

XP_PER_DIFFICULTY = 10
PRIORITY_MULTIPLIERS = {
    Priority.LOW: 1.0,
    Priority.MEDIUM: 1.5,
    Priority.HIGH: 2.0,
    Priority.URGENT: 3.0,
}


def task_xp(*, difficulty: int, priority: str) -> int:
    """The XP a completion of a task with this difficulty (1-5) and priority grants."""
    return math.floor(XP_PER_DIFFICULTY * difficulty * PRIORITY_MULTIPLIERS[Priority(priority)])


def level_start(level: int) -> int:
    """The total XP at which ``level`` (1 or more) begins."""
    return 50 * level * (level - 1)


@dataclass(frozen=True)
class Level:
    level: int
    xp_into_level: int
    xp_for_next_level: int

    @property
    def progress(self) -> float:
        """How far to the next level, 0.0 to just under 1.0."""
        return self.xp_into_level / self.xp_for_next_level


def level_of(total_xp: int) -> Level:
    """The level a total of XP reaches (a negative total counts as 0)."""
    total = max(total_xp, 0)
    # The largest L with 50*L*(L-1) <= total, from the quadratic's root, then corrected for
    # floating point at the boundaries.
    level = max(1, math.floor((1 + math.sqrt(1 + total / 12.5)) / 2))
    while level_start(level + 1) <= total:
        level += 1
    while level > 1 and level_start(level) > total:
        level -= 1
    start, nxt = level_start(level), level_start(level + 1)
    return Level(level=level, xp_into_level=total - start, xp_for_next_level=nxt - start)
