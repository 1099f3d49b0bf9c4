"""Numerical libraries run on the thread that calls them.

numpy's OpenBLAS starts a thread per core and, after each product, keeps them spinning for a
while in case another follows. A search multiplies a user's vectors by the query (resident
copies): the spinning threads then held a core the query's embedding and PostgreSQL needed, and
every statement sent while the query embedded waited ~5 ms for a core (measured on 2 cores).
A product of a few thousand vectors takes well under a millisecond on one thread; the process
already parallelises by running requests, tasks and the embedding model side by side.
"""

import numpy  # noqa: F401  loads the BLAS library the limit applies to
from threadpoolctl import threadpool_limits


def blas_single_threaded() -> None:
    """Limit the BLAS libraries loaded in this process to one thread, for good (a forked child
    keeps the limit)."""
    threadpool_limits(limits=1, user_api="blas")
