import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clean_cache():
    """Rate limits and other cached state live in Redis (a test-only database); start each test empty."""
    cache.clear()
    yield
    cache.clear()
