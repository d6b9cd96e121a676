"""Behind PgBouncer in transaction mode (Debian's 1.18) Mike needs DB_PREPARE_THRESHOLD=off and
DB_DISABLE_SERVER_SIDE_CURSORS=True: each transaction may run on another server connection, so
a statement prepared on one is unknown on the next. The suite starts its own PgBouncer in front of
the test database and claims gift cards, and looks their codes up as the redemption page does,
through it."""

import shutil
import socket
import subprocess
import time
from decimal import Decimal

import psycopg
import pytest
from django.db import connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper

from giftcards.models import GiftCardPool
from giftcards.services import allocate_credit, claim_card_atomic, credit_account_for
from recipients.models import Recipient
from recipients.redemption import find_with_rewards
from tests import factories
from tests.giftcards.test_claim_writers import VALUE, claimant, client_condition

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if shutil.os.access("/usr/sbin/pgbouncer", shutil.os.X_OK) else None
)
CLAIMS = 8

pytestmark = pytest.mark.skipif(
    PGBOUNCER is None,
    reason="PGBOUNCER MISSING: the PgBouncer transaction-pooling test did NOT run; install it "
    "with `apt-get install -y pgbouncer` (.ci/run does)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def pgbouncer(tmp_path):
    """A PgBouncer of the test's own on a free port: transaction pooling, two server connections
    handed out in turn (as under load), trusting the local PostgreSQL."""
    port = free_port()
    db = connection.settings_dict
    (tmp_path / "users.txt").write_text(f'"{db["USER"]}" ""\n')
    (tmp_path / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={db["HOST"] or "127.0.0.1"} port={db["PORT"] or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {tmp_path / "users.txt"}
pool_mode = transaction
default_pool_size = 2
min_pool_size = 2
server_round_robin = 1
max_client_conn = 20
"""
    )
    command = [PGBOUNCER, str(tmp_path / "pgbouncer.ini")]
    if shutil.os.geteuid() == 0:  # PgBouncer refuses to run as root
        command[1:1] = ["-u", "postgres"]
    log = open(tmp_path / "pgbouncer.log", "wb")  # noqa: SIM115 (closed at teardown)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg.connect(
                host="127.0.0.1", port=port, user=db["USER"], dbname=db["NAME"], connect_timeout=2
            ).close()
            break
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.close()
                output = (tmp_path / "pgbouncer.log").read_text()
                pytest.fail(f"PgBouncer did not start:\n{output}")
            time.sleep(0.1)
    # Both server connections open, so consecutive transactions of one client alternate between
    # them, as they do on a busy pool.
    clients = [
        psycopg.connect(host="127.0.0.1", port=port, user=db["USER"], dbname=db["NAME"])
        for _ in range(2)
    ]
    for client in clients:
        client.execute("SELECT 1")  # each holds a server connection until it commits
    for client in clients:
        client.commit()
        client.close()
    yield port
    process.terminate()
    process.wait(timeout=10)
    log.close()


def through_pgbouncer(port: int) -> DatabaseWrapper:
    """Mike's default connection, through PgBouncer, configured as .env.example says."""
    settings_dict = {
        **connection.settings_dict,
        "HOST": "127.0.0.1",
        "PORT": port,
        "DISABLE_SERVER_SIDE_CURSORS": True,
    }
    return DatabaseWrapper(settings_dict, "default")


def claim_cards(*, through: DatabaseWrapper):
    """Claims CLAIMS rewards, each in its own transaction, with other queries in between, on the
    connection `through`; gives the claimed cards' ids in order."""
    direct = connections["default"]
    connections["default"] = through
    try:
        client, campaign, brand, condition = client_condition()
        pool = factories.GiftCardPoolFactory(client=client, brand=brand, card_value=VALUE)
        cards = [factories.GiftCardFactory(pool=pool) for _ in range(CLAIMS)]
        allocate_credit(client, Decimal("1000.00"))
        claimed = []
        for n in range(CLAIMS):
            recipient = claimant(campaign)
            claimed.append(claim_card_atomic(recipient=recipient, condition=condition).pk)
            # A varying number of other transactions between claims, as in a busy process, so
            # claims land on either server connection.
            for _ in range(n % 3 + 1):
                assert Recipient.objects.filter(pk=recipient.pk).exists()
                # The redemption page's compiled read (mike.core.compiled), sent apart from
                # its value like the claim's statements.
                found, rewards = find_with_rewards(recipient.redemption_code)
                assert found.pk == recipient.pk and len(rewards) == 1
            # Server-side cursors off: .iterator() works outside a transaction too.
            assert len(list(Recipient.objects.filter(audience__client=client).iterator())) > 0
        return pool, cards, claimed, client
    finally:
        through.close()
        connections["default"] = direct


@pytest.mark.django_db(transaction=True)
def test_gift_card_claims_work_through_pgbouncer_with_preparing_off(settings, pgbouncer):
    settings.GIFTCARD_CLAIM_SQL = True
    settings.PREPARE_THRESHOLD = None  # DB_PREPARE_THRESHOLD=off

    pool, cards, claimed, client = claim_cards(through=through_pgbouncer(pgbouncer))

    assert claimed == [card.pk for card in cards]
    pool = GiftCardPool.objects.get(pk=pool.pk)
    assert (pool.available_cards, pool.claimed_cards) == (0, CLAIMS)
    assert credit_account_for(client).balance == Decimal("1000.00") - CLAIMS * VALUE


@pytest.mark.django_db(transaction=True)
def test_preparing_on_breaks_claims_through_pgbouncer_in_transaction_mode(settings, pgbouncer):
    """What DB_PREPARE_THRESHOLD=off prevents: psycopg prepares the claim's statement on one
    server connection and later runs it by name on the other, where PostgreSQL does not know it."""
    settings.GIFTCARD_CLAIM_SQL = True
    settings.PREPARE_THRESHOLD = 1

    with pytest.raises(Exception, match=r"prepared statement .* does not exist"):
        claim_cards(through=through_pgbouncer(pgbouncer))
