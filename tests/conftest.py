import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clean_cache():
    """Rate limits and other cached state live in a test-only Redis database; start empty."""
    cache.clear()
    yield
    cache.clear()
