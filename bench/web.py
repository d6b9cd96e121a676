"""The public and webhook paths under gunicorn, against a bare Django view on the same server.

One gunicorn (4 sync workers, DEBUG off, persistent database connections) serves Mike on its own
database; wrk (Debian's `wrk`, 4 threads, 16 connections, on the same machine) drives in turn:

- `baseline`: `POST /bench/lookup/`, a Django view doing one indexed lookup (a recipient by
  redemption code) and answering a few bytes (bench/web_urls.py);
- `redeem`: `POST /redeem/` with a valid code whose card was delivered (CSRF token, rate limit,
  the lookup, the rewards, the view's event, the page);
- `voice`: Twilio's voice webhook for a new call to a tracked number (signed; a new CallSid
  each request, so every one creates its call session and answers the TwiML that forwards it);
- `sms`: Twilio's inbound SMS webhook, a recipient texting HELP (signed; a new MessageSid each).

Each path runs `--seconds` per round, the paths in a different order each round; the figures
are medians over the rounds, and the ratios (a path's requests/s over the baseline's in the same
round) are what compare across machines. Every answer must be 200 (the bench fails otherwise).

    .venv/bin/python bench/web.py [--seconds 10] [--rounds 3]      # or: make bench
"""

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB = "mike_bench_web"
SERVER = os.environ.get("BENCH_SERVER_URL", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
TRACKED = "+18005550100"
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token"
RECIPIENTS = 200
# Distinct signed requests per webhook path: more than a run sends, so none is a repeat.
WEBHOOK_REQUESTS = 40000
PATHS = ("baseline", "redeem", "voice", "sms")
# The pages' static files as production serves them (hashed names, whitenoise's manifest), so
# the bench runs from a fresh checkout: the seeding collects them here.
STATIC_ROOT = Path(tempfile.gettempdir()) / "mike_bench_web_static"


def _secrets() -> dict:
    from cryptography.fernet import Fernet

    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CARD_CODE_KEY": Fernet.generate_key().decode(),
        "CARD_CODE_HASH_KEY": Fernet.generate_key().decode(),
    }


SECRETS = _secrets()  # one run's: the seeding and the server share them


def server_env() -> dict:
    return {
        **os.environ,
        **SECRETS,
        "DJANGO_SETTINGS_MODULE": "bench.web_settings",
        "DATABASE_URL": f"{SERVER}/{DB}",
        "REDIS_URL": REDIS,
        "DEBUG": "False",
        "SECURE_SSL_REDIRECT": "False",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CONN_MAX_AGE": "600",
        "SMS_BACKEND": "locmem",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "REDEEM_RATE": "1000000/m",
        "PYTHONPATH": str(ROOT),
        "STATIC_ROOT": str(STATIC_ROOT),
    }


def recreate_database():
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")


def seed() -> list[str]:
    """Migrate, then a mailed campaign of one client with a tracked number and RECIPIENTS
    recipients, each with a delivered card; return their redemption codes. Runs in a child
    process with the server's settings (eager tasks, so each card is delivered at once)."""
    script = f"""
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("collectstatic", interactive=False, clear=True, verbosity=0)
from decimal import Decimal
from bench.run import rewards_to_claim
from calls.models import TrackedPhoneNumber, TrackedNumberStatus
from campaigns.models import CampaignStatus
from giftcards.services import allocate_credit, claim_card_atomic
from mike.accounts.models import Organization
from recipients.models import Audience, Recipient
client = Organization.objects.create(kind="client", name="Bench client", slug="bench")
allocate_credit(client, Decimal("1000000"))
audience = Audience.objects.create(client=client, name="Bench audience")
condition, pool = rewards_to_claim(
    audience, {RECIPIENTS}, name="Web", brand_code="amazon", value="10", phones="+1555"
)
campaign = condition.campaign
campaign.status = CampaignStatus.MAILED
campaign.save(update_fields=["status"])
TrackedPhoneNumber.objects.create(
    client=client, campaign=campaign, phone_number="{TRACKED}",
    status=TrackedNumberStatus.ASSIGNED,
)
from giftcards.models import GiftCardDelivery
from mike.rewards.delivery import send_delivery
for recipient in Recipient.objects.filter(campaign=campaign):
    claim_card_atomic(recipient=recipient, condition=condition)
for delivery_id in GiftCardDelivery.objects.values_list("pk", flat=True):
    send_delivery(delivery_id)
assert not GiftCardDelivery.objects.exclude(status="sent").exists()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
import json
print(json.dumps(list(Recipient.objects.filter(campaign=campaign).values_list(
    "redemption_code", "phone"))))
"""
    env = {**server_env(), "CELERY_TASK_ALWAYS_EAGER": "True"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"seeding failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "mike.wsgi",
            "--workers",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env=server_env(),
        cwd=ROOT,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit("gunicorn did not start")


def twilio_signature(url: str, params: dict) -> str:
    from twilio.request_validator import RequestValidator

    return RequestValidator(AUTH_TOKEN).compute_signature(url, params)


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal for this ASCII text


def request_lines(path: str, port: int, codes: list[tuple[str, str]]) -> list[str]:
    """wrk.format(...) calls, one per distinct request of `path`."""
    form = "application/x-www-form-urlencoded"
    if path in ("baseline", "redeem"):
        token = secrets.token_hex(16)  # 32 characters: a CSRF secret, cookie and form alike
        target = "/bench/lookup/" if path == "baseline" else "/redeem/"
        lines = []
        for code, _ in codes:
            body = urlencode({"csrfmiddlewaretoken": token, "code": code})
            headers = {"Content-Type": form, "Cookie": f"csrftoken={token}"}
            lines.append(_format(target, headers, body))
        return lines
    base = f"http://127.0.0.1:{port}"
    lines = []
    for n in range(WEBHOOK_REQUESTS):
        if path == "voice":
            target = "/hooks/twilio/voice/"
            params = {
                "AccountSid": ACCOUNT_SID,
                "CallSid": f"CA{n:032d}",
                "From": f"+1555400{n % 10000:04d}",
                "To": TRACKED,
                "CallStatus": "ringing",
                "Direction": "inbound",
            }
        else:
            target = "/hooks/twilio/sms/"
            params = {
                "AccountSid": ACCOUNT_SID,
                "MessageSid": f"SM{n:032d}",
                "From": codes[n % len(codes)][1],
                "To": TRACKED,
                "Body": "HELP",
            }
        headers = {
            "Content-Type": form,
            "X-Twilio-Signature": twilio_signature(base + target, params),
        }
        lines.append(_format(target, headers, urlencode(params)))
    return lines


def _format(target: str, headers: dict, body: str) -> str:
    pairs = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
    return f'wrk.format("POST", {lua_string(target)}, {{{pairs}}}, {lua_string(body)})'


LUA_TAIL = """
local threads, counter = {}, 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
local n
function init(args)
  n = id
end
function request()
  local r = requests[(n % #requests) + 1]
  n = n + 4
  return r
end
function done(summary, latency, _)
  local status = 0
  for _, thread in ipairs(threads) do status = status + thread:get("bad") end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "errors": %d, "bad": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout, status))
end
bad = 0
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
"""


def write_script(directory: Path, path: str, lines: list[str]) -> Path:
    script = directory / f"{path}.lua"
    with script.open("w") as out:
        # In chunks of functions: Lua allows a function at most 65,536 constants.
        out.write("requests = {}\n")
        for start in range(0, len(lines), 1000):
            out.write("do local function chunk()\n  local t = requests\n")
            for line in lines[start : start + 1000]:
                out.write(f"  t[#t + 1] = {line}\n")
            out.write("end chunk() end\n")
        out.write(LUA_TAIL)
    return script


def run_wrk(port: int, script: Path, seconds: int) -> dict:
    done = subprocess.run(
        [
            "wrk",
            "-t4",
            "-c16",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            result["rps"] = result["requests"] / result["seconds"]
            return result
    sys.exit(f"wrk gave no result:\n{done.stdout}\n{done.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/web.py needs wrk: apt-get install wrk")

    print(f"seeding {DB} ({RECIPIENTS} recipients with delivered cards)…", flush=True)
    recreate_database()
    codes = seed()
    port = free_port()
    server = start_gunicorn(port)
    results = {path: [] for path in PATHS}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            scripts = {
                path: write_script(Path(tmp), path, request_lines(path, port, codes))
                for path in PATHS
            }
            for path in PATHS:  # warm every worker's connection and code paths
                run_wrk(port, scripts[path], 2)
            for round_number in range(args.rounds):
                order = PATHS[round_number % len(PATHS) :] + PATHS[: round_number % len(PATHS)]
                for path in order:
                    result = run_wrk(port, scripts[path], args.seconds)
                    if result["errors"] or result["bad"]:
                        sys.exit(f"{path}: {result['errors']} errors, {result['bad']} non-200")
                    results[path].append(result)
                    print(
                        f"round {round_number + 1} {path:8} {result['rps']:8.1f} req/s  "
                        f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms",
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait(timeout=30)
        import redis

        redis.Redis.from_url(REDIS).flushdb()  # the tasks the webhooks queued for no worker

    print("\n| path | req/s (median) | ratio to the bare view (rounds) | p50 ms | p99 ms |")
    print("|---|---:|---|---:|---:|")
    for path in PATHS:
        runs = results[path]
        rps = statistics.median(r["rps"] for r in runs)
        ratios = [r["rps"] / b["rps"] for r, b in zip(runs, results["baseline"], strict=True)]
        ratio = (
            "—"
            if path == "baseline"
            else (f"{statistics.median(ratios):.2f}× ({', '.join(f'{x:.2f}' for x in ratios)})")
        )
        p50 = statistics.median(r["p50_ms"] for r in runs)
        p99 = statistics.median(r["p99_ms"] for r in runs)
        print(f"| {path} | {rps:.1f} | {ratio} | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
