import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clean_cache():
    # Local-model load state lives in the cache.
    cache.clear()
    yield
    cache.clear()
