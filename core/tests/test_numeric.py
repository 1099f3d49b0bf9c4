from threadpoolctl import threadpool_info


def test_numpy_blas_runs_on_the_calling_thread():
    # Its idle threads spin: on a small machine they took the core a search's embedding and
    # PostgreSQL were waiting for (core/numeric.py).
    blas = [library for library in threadpool_info() if library["user_api"] == "blas"]

    assert blas
    assert all(library["num_threads"] == 1 for library in blas)
