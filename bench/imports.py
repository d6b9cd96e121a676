"""Imports at scale: the import commands against PostgreSQL COPY of the same rows, in one run.

Files are generated as clients and suppliers send them: an audience of names with accents, US
phones written six ways, emails, street addresses, ZIP and ZIP+4 and a customer id; a card file of
codes, card numbers, PINs, balances written three ways and expiry dates in two formats. Each round:

- the command: `manage.py import_recipients --audience <id> FILE` and `manage.py import_cards
  --pool <id> FILE` run as child processes, timed by wall clock from the start of the process to
  its exit (interpreter start and Django set-up included, as someone running it waits for
  them), every row parsed, validated, deduplicated, its code or token drawn, encrypted
  and hashed, and written;
- COPY: the same rows (every column the import would write: codes, tokens, keys, encrypted codes,
  hashes and timestamps made in Python before the clock starts, and rendered as COPY text) sent
  by psycopg's `cursor.copy("COPY … FROM STDIN")` into the same table, for a fresh audience or pool
  of the same client, in one transaction; the figure is the database's time to take them.

The two take turns at going first; before each, the database is vacuumed, analysed and
checkpointed. Peak memory is each child's maximum resident set (getrusage), for the 100,000-row
audience and for one of 1,000,000 rows, each imported by a fresh process into a fresh audience.

    .venv/bin/python bench/imports.py [--rows 100000] [--large 1000000] [--rounds 3]

It uses its own database (`mike_bench_imports` on DATABASE_URL's server, default localhost),
recreated on each run, and a temporary folder for the files. The children run as a server would:
DEBUG off, with keys generated for the run.
"""

import argparse
import io
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DB = "mike_bench_imports"
SERVER = os.environ.get("BENCH_SERVER_URL", "postgres://postgres@127.0.0.1:5432")

FIRST_NAMES = (
    "José", "Zoë", "François", "Chloé", "Renée", "Björn", "Łukasz", "Siobhán", "Mary Ann",
    "Nguyễn", "Ana", "Jürgen", "Inés", "Søren", "Aoife", "Amélie", "Darius", "Maya", "James",
    "Linda", "Robert", "Patricia", "Michael", "Jennifer", "David", "Elizabeth", "Chen", "Fatima",
)  # fmt: skip
LAST_NAMES = (
    "Núñez", "O'Brien", "García", "Müller", "Smith", "Johnson", "Dvořák", "Łopez", "Williams",
    "Brown", "Jones", "Martínez", "Hernández", "Nguyen", "Kowalski", "Schäfer", "De la Cruz",
    "Van der Berg", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Lee", "Peña", "Côté",
)  # fmt: skip
STREETS = (
    "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Washington Blvd", "Lake Shore Dr",
    "Peachtree Rd NE", "Calle Real", "Rue Saint-Jean", "Park Ave Apt 4B", "Sunset Blvd #210",
)  # fmt: skip
PLACES = (
    ("Austin", "TX", "787", "512"), ("Boston", "MA", "021", "617"), ("Chicago", "IL", "606", "312"),
    ("Miami", "FL", "331", "305"), ("Seattle", "WA", "981", "206"), ("Denver", "CO", "802", "303"),
    ("Atlanta", "GA", "303", "404"), ("San José", "CA", "951", "408"),
    ("New York", "NY", "100", "212"), ("Phoenix", "AZ", "850", "602"),
)  # fmt: skip
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "example.org", "aol.com")
SEGMENTS = ("gold", "silver", "bronze", "")
# How people write the same US number.
PHONE_FORMATS = (
    "({a}) {e}-{s}",
    "{a}-{e}-{s}",
    "{a}.{e}.{s}",
    "+1 {a} {e} {s}",
    "{a}{e}{s}",
    "1-{a}-{e}-{s}",
)


def ascii_fold(text: str) -> str:
    text = text.replace("Ł", "L").replace("ł", "l").replace("ø", "o").replace("Ø", "O")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum())


def write_recipients(path: Path, count: int, *, seed: int) -> Path:
    """An audience file of `count` different people (phones, emails and ids all distinct)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("First Name,Last Name,Phone,Email,Address,City,State,ZIP,Customer ID,Segment\r\n")
        lines = []
        for n in range(count):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            city, state, zip3, area = PLACES[n % len(PLACES)]
            # A distinct subscriber number per row: exchange 200-999, line 0000-9999.
            number = n // len(PLACES)
            exchange, line = 200 + number // 10000, number % 10000
            phone = rng.choice(PHONE_FORMATS).format(a=area, e=f"{exchange:03d}", s=f"{line:04d}")
            email = (
                f"{ascii_fold(first).lower()}.{ascii_fold(last).lower()}{n}@{rng.choice(DOMAINS)}"
            )
            zip_code = f"{zip3}{rng.randrange(100):02d}"
            if rng.random() < 0.3:
                zip_code += f"-{rng.randrange(10000):04d}"
            address = f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}"
            if "," in address:
                address = f'"{address}"'
            fields = (first, last, phone, email, address, city, state, zip_code)
            lines.append(",".join((*fields, f"C{seed:02d}{n:08d}", rng.choice(SEGMENTS))))
            if len(lines) >= 10000:
                out.write("\r\n".join(lines) + "\r\n")
                lines = []
        if lines:
            out.write("\r\n".join(lines) + "\r\n")
    return path


CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def write_cards(path: Path, count: int, *, seed: int) -> Path:
    """A supplier's card file of `count` distinct codes (the seed keeps files apart)."""
    rng = random.Random(seed)
    today = date.today()
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("card_code,card_number,pin,balance,expiration_date\n")
        lines = []
        for n in range(count):
            # Random groups, then the row's number and the seed: distinct in and across files.
            head = "".join(rng.choice(CODE_ALPHABET) for _ in range(8))
            code = f"{head[:4]}-{head[4:]}-{seed:02d}{n:07d}"
            card_number = f"6{rng.randrange(10**15):015d}" if rng.random() < 0.8 else ""
            pin = f"{rng.randrange(10000):04d}" if card_number else ""
            balance = rng.choice(("", "25.00", "$25", "25"))
            expiry = today + timedelta(days=rng.randrange(365, 3 * 365))
            expiration = rng.choice((expiry.isoformat(), expiry.strftime("%m/%d/%Y"), ""))
            lines.append(f"{code},{card_number},{pin},{balance},{expiration}")
            if len(lines) >= 10000:
                out.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            out.write("\n".join(lines) + "\n")
    return path


def server_environment() -> dict:
    """As a server runs: DEBUG off, its own keys (made for this run), eager tasks, files up to
    1,000 MB (the 1,000,000-row audience is about 110 MB, over the default 100 MB limit)."""
    from cryptography.fernet import Fernet

    return {
        "DATABASE_URL": f"{SERVER}/{BENCH_DB}",
        "DJANGO_SETTINGS_MODULE": "mike.settings",
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CARD_CODE_KEY": Fernet.generate_key().decode(),
        "CARD_CODE_HASH_KEY": secrets.token_urlsafe(32),
        "SMS_BACKEND": "locmem",
        "CELERY_TASK_ALWAYS_EAGER": "True",
        "IMPORT_MAX_MB": "1000",
    }


def setup_django(environment: dict):
    os.environ.update(environment)
    import django

    django.setup()


def recreate_database():
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def settle():
    """The same start for whichever goes next: statistics fresh, no dirty pages left over from
    the one before (a checkpoint flushing them would land in the next one's time)."""
    import psycopg

    with psycopg.connect(f"{SERVER}/{BENCH_DB}", autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")


# Runs ARGV and writes its wall time, CPU time and peak memory as JSON to the path given first.
# The measured process is this launcher's child, not the bench's: on Linux a child's maximum
# resident set starts from that of the process it was forked from, and the bench holds hundreds
# of megabytes of prepared rows, while this launcher holds a few.
LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
               "max_rss_kib": usage.ru_maxrss}, out)
"""


def run_command(environment: dict, args: list[str]) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, max RSS in KiB, stdout) of `manage.py ARGS` in a fresh
    process; the wall time runs from before the interpreter starts to after it exits."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".json") as figures,
    ):
        subprocess.run(
            [
                sys.executable,
                "-c",
                LAUNCHER,
                figures.name,
                sys.executable,
                str(ROOT / "manage.py"),
                *args,
            ],
            cwd=ROOT,
            env={**os.environ, **environment},
            stdout=out,
            stderr=err,
            check=True,
        )
        measured = json.load(figures)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if measured["code"]:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{stdout}\n{stderr}")
    return measured["wall"], measured["cpu"], measured["max_rss_kib"], stdout


# --- The rows COPY writes: what the import writes, made beforehand --------------------------


def recipient_rows(path: Path, audience):
    """The Recipient instances the import makes of the file's rows for `audience`: parsed by
    the same function, a code drawn and a token made for each."""
    from mike.core.imports import CsvFile, ImportReport
    from recipients.codes import draw_codes, generate_recipient_token
    from recipients.imports import column_map, parse_recipient
    from recipients.models import Recipient, ValidationStatus

    objects = []
    with CsvFile(path) as file:
        mapping = column_map(file.header)
        for row in file.rows(ImportReport()):
            parsed = parse_recipient(row, mapping)
            code = draw_codes(1)[0] if not parsed.code else ""
            objects.append(
                Recipient(
                    audience=audience,
                    redemption_code=parsed.code or code,
                    token=generate_recipient_token(),
                    custom_fields=parsed.custom_fields,
                    validation_status=ValidationStatus.VALID,
                    **parsed.fields,
                )
            )
    return objects


def card_rows(path: Path, pool):
    """The GiftCard instances the import makes of the file's rows for `pool` (encrypted code,
    PIN and card number, keyed hash, balance, expiry)."""
    from giftcards import crypto
    from giftcards.models import CardSource, GiftCard
    from giftcards.services.imports import CARD_FIELDS, _card_of
    from mike.core.imports import CsvFile, ImportReport

    encrypt = crypto.encrypter()
    shared = {"pool": pool, "brand_id": pool.brand_id, "card_value": pool.card_value}
    with CsvFile(path) as file:
        return [
            GiftCard(
                **dict(zip(CARD_FIELDS, _card_of(row, pool, encrypt), strict=True)),
                **shared,
                source=CardSource.CSV,
                uploaded_by=None,
            )
            for row in file.rows(ImportReport())
        ]


def _copy_text(value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (datetime, date)):
        text = value.isoformat()
    elif isinstance(value, (UUID, Decimal, int, float)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    elif hasattr(value, "obj"):  # psycopg's Jsonb
        text = json.dumps(value.obj)
    else:
        raise TypeError(f"no COPY text for {type(value).__name__}")
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_payload(objects) -> tuple[str, bytes]:
    """The COPY statement and the rows as COPY text: each field's value as the ORM writes it
    (pre_save, then get_db_prep_save), rendered before the clock starts."""
    from django.db import connection

    meta = type(objects[0])._meta
    fields = meta.concrete_fields
    quote = connection.ops.quote_name
    sql = (
        f"COPY {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        "FROM STDIN"
    )
    buffer = io.StringIO()
    for obj in objects:
        values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
        buffer.write("\t".join(_copy_text(value) for value in values))
        buffer.write("\n")
    return sql, buffer.getvalue().encode()


def timed_copy(sql: str, payload: bytes, after=None) -> float:
    """Seconds to COPY `payload` over a fresh psycopg connection in one transaction (with
    `after(cursor)` in it, the pool counters for cards), COMMIT included."""
    import psycopg

    with psycopg.connect(f"{SERVER}/{BENCH_DB}") as conn:
        conn.execute("SELECT 1")
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cursor:
            with cursor.copy(sql) as copy:
                view = memoryview(payload)
                for offset in range(0, len(payload), 1 << 20):
                    copy.write(view[offset : offset + (1 << 20)])
            if after:
                after(cursor)
        conn.commit()
        return time.perf_counter() - start


def main():
    global BENCH_DB
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--memory",
        choices=("yes", "no", "only"),
        default="yes",
        help="measure the peak memory at --rows and --large rows too, or only that",
    )
    parser.add_argument("--database", default=BENCH_DB, help="its own database, recreated")
    options = parser.parse_args()
    BENCH_DB = options.database
    if options.memory == "only":
        options.rounds = 0
    environment = server_environment()
    recreate_database()
    setup_django(environment)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    from giftcards.models import GiftCardBrand, GiftCardPool
    from mike.accounts.models import Organization
    from recipients.models import Audience

    client = Organization.objects.create(kind="client", name="Bench client", slug="bench")
    amazon = GiftCardBrand.objects.get(brand_code="amazon")
    rows = options.rows
    folder = Path(tempfile.mkdtemp(prefix="mike-bench-imports-"))
    try:
        start = time.perf_counter()
        audience_file = write_recipients(folder / "audience.csv", rows, seed=1)
        large_file = None
        if options.memory != "no":
            large_file = write_recipients(folder / "audience-large.csv", options.large, seed=2)
        print(
            f"files: {rows:,} recipients ({audience_file.stat().st_size / 1e6:.1f} MB)"
            + (
                f", {options.large:,} recipients ({large_file.stat().st_size / 1e6:.1f} MB)"
                if large_file
                else ""
            )
            + f", {rows:,} cards a round (written in {time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        times = {name: {"command": [], "copy": [], "cpu": []} for name in ("recipients", "cards")}
        for round_number in range(options.rounds):
            order = ("command", "copy") if round_number % 2 == 0 else ("copy", "command")
            # Recipients: the same file, into the command's audience and into COPY's.
            target = Audience.objects.create(client=client, name=f"Command {round_number}")
            copied = Audience.objects.create(client=client, name=f"COPY {round_number}")
            sql, payload = copy_payload(recipient_rows(audience_file, copied))
            connection.close()
            for method in order:
                settle()
                if method == "command":
                    wall, cpu, _, output = run_command(
                        environment,
                        ["import_recipients", "--audience", str(target.pk), str(audience_file)],
                    )
                    expect_all_imported(output, rows)
                    times["recipients"]["command"].append(wall)
                    times["recipients"]["cpu"].append(cpu)
                else:
                    times["recipients"]["copy"].append(timed_copy(sql, payload))
            del payload
            same_recipients(target, copied, rows)
            print(
                f"round {round_number + 1} ({' then '.join(order)}): "
                + figures("recipients", times),
                flush=True,
            )

            # Cards: codes are unique platform-wide, so COPY's rows cannot be the command's: two
            # files of the same shape, each into a fresh pool of the client.
            card_file = write_cards(
                folder / f"cards-{round_number}.csv", rows, seed=10 + round_number
            )
            copy_file = write_cards(
                folder / f"copy-{round_number}.csv", rows, seed=50 + round_number
            )
            pools = [
                GiftCardPool.objects.create(
                    client=client, brand=amazon, card_value=Decimal("25"), pool_name=name
                )
                for name in (f"Command {round_number}", f"COPY {round_number}")
            ]
            sql, payload = copy_payload(card_rows(copy_file, pools[1]))
            connection.close()
            for method in order:
                settle()
                if method == "command":
                    wall, cpu, _, output = run_command(
                        environment, ["import_cards", "--pool", str(pools[0].pk), str(card_file)]
                    )
                    expect_all_imported(output, rows)
                    times["cards"]["command"].append(wall)
                    times["cards"]["cpu"].append(cpu)
                else:
                    times["cards"]["copy"].append(
                        timed_copy(sql, payload, count_cards(pools[1], rows))
                    )
            del payload
            same_cards(pools, rows)
            print(
                f"round {round_number + 1} ({' then '.join(order)}): " + figures("cards", times),
                flush=True,
            )

        if options.rounds:
            summary(options, times)
        if options.memory == "no":
            return
        # Peak memory: a fresh process per file, each into a fresh audience.
        peaks = {}
        for count, path in ((rows, audience_file), (options.large, large_file)):
            settle()
            audience = Audience.objects.create(client=client, name=f"Memory {count}")
            connection.close()
            wall, _, peak, output = run_command(
                environment, ["import_recipients", "--audience", str(audience.pk), str(path)]
            )
            expect_all_imported(output, count)
            peaks[count] = (peak, wall)
            print(
                f"peak memory of import_recipients (max RSS) at {count:,} rows: "
                f"{peak / 1024:.0f} MiB ({wall:.0f} s, {count / wall:,.0f} rows/s)",
                flush=True,
            )
        (small, _), (large, _) = peaks[rows], peaks[options.large]
        print(f"peak memory at {options.large:,} rows / at {rows:,} rows: {large / small:.2f}x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def count_cards(pool, rows: int):
    """What the import does beside its cards: the pool's counters move in the same transaction."""

    def after(cursor):
        cursor.execute(
            "UPDATE giftcards_giftcardpool SET total_cards = total_cards + %s, "
            "available_cards = available_cards + %s WHERE id = %s",
            [rows, rows, pool.pk],
        )

    return after


def expect_all_imported(output: str, rows: int):
    # "N rows, N imported, …", after "Import job <id>: " where imports run as jobs.
    if f"{rows} rows, {rows} imported, 0 duplicates, 0 errors" not in output:
        sys.exit(f"FAILED: the import did not take every row: {output.strip()}")


def same_recipients(target, copied, rows: int):
    """The command and COPY wrote the same people: every column but the keys, codes, tokens and
    timestamps, which each draws for itself."""
    from recipients.models import Recipient

    drawn = {"id", "audience_id", "created_at", "updated_at", "token", "redemption_code"}
    columns = [f.attname for f in Recipient._meta.concrete_fields if f.attname not in drawn]

    def people(audience):
        return sorted(
            json.dumps(row, sort_keys=True, default=str)
            for row in Recipient.objects.filter(audience=audience).values(*columns)
        )

    mine, theirs = people(target), people(copied)
    if len(mine) != rows or mine != theirs:
        sys.exit("FAILED: the command's recipients differ from the rows COPY wrote")


def same_cards(pools, rows: int):
    """Both pools hold `rows` available cards, counted, with the same balances and expiry dates
    spread (the two files are drawn from the same generator)."""
    from django.db.models import Count, Q

    from giftcards.models import GiftCard, GiftCardPool

    for pool in GiftCardPool.objects.filter(pk__in=[pool.pk for pool in pools]):
        stored = GiftCard.objects.filter(pool=pool).aggregate(
            cards=Count("pk"), encrypted=Count("pk", filter=~Q(code_encrypted=""))
        )
        if not (stored["cards"] == stored["encrypted"] == pool.available_cards == rows):
            sys.exit(f"FAILED: pool {pool.pool_name} holds {stored} for {rows} rows")


def figures(name: str, times: dict) -> str:
    command, copy, cpu = (times[name][key][-1] for key in ("command", "copy", "cpu"))
    return (
        f"{name}: command {command:.1f} s (CPU {cpu:.1f} s), COPY {copy:.1f} s, "
        f"COPY/command {copy / command:.2f}x"
    )


def summary(options, times):
    rows = options.rows
    print(f"\n{rows:,} rows a file, medians of {options.rounds} rounds (wall time):")
    print(f"{'import':<11} {'command':>11} {'COPY':>11} {'COPY/command':>13}  per round")
    for name, measured in times.items():
        ratios = [c / m for m, c in zip(measured["command"], measured["copy"], strict=True)]
        print(
            f"{name:<11} {rows / statistics.median(measured['command']):9,.0f}/s "
            f"{rows / statistics.median(measured['copy']):9,.0f}/s "
            f"{statistics.median(ratios):12.2f}x  {', '.join(f'{r:.2f}' for r in ratios)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
