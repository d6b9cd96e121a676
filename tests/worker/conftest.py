import pytest


@pytest.fixture(autouse=True)
def fresh_broker_pools():
    """Each test here publishes through the project's app; a test before it that ran a worker
    or another Celery app in this process may have closed kombu's shared pools (they are global,
    keyed by connection), or made another app current. Start from the project's, fresh."""
    from kombu import pools

    from mike.celery import app

    app.set_current()  # another app made current (a test's own Celery()) would take shared tasks
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    yield
