"""deploy/nginx/mike.conf, run: a real nginx with the committed site in front of a real gunicorn of
Mike (started as deploy/systemd/mike-web.service starts it), over HTTPS with a self-signed
certificate. Only the values an operator edits are put in for the test (addresses, certificate,
STATIC_ROOT, the upload limit); everything else is the file as committed.

Through it: static files come from nginx itself; Django sees the scheme (no redirect loop, HSTS,
CSRF's origin check), the public host and the client's address (not one the client wrote in
X-Forwarded-For); a webhook Twilio signed for the public URL passes; /healthz/ answers; an import
at IMPORT_MAX_MB passes nginx and one over it gets Mike's message; a slow upload does not hold a
gunicorn thread; plain HTTP is sent to HTTPS.
"""

import datetime
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid
import warnings
from pathlib import Path

import pytest
import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from requests.adapters import HTTPAdapter
from twilio.request_validator import RequestValidator

from mike.accounts.models import Role
from mike.accounts.services import grant_role
from tests import factories
from tests.factories_accounts import TEST_PASSWORD
from tests.serving.test_gunicorn import GUNICORN, collect_static, free_port, server_environment

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "mike.conf"
NGINX = shutil.which("nginx") or (
    "/usr/sbin/nginx" if shutil.os.access("/usr/sbin/nginx", shutil.os.X_OK) else None
)

pytestmark = pytest.mark.skipif(
    NGINX is None,
    reason="NGINX MISSING: the nginx-in-front-of-gunicorn test did NOT run; install it with "
    "`apt-get install -y --no-install-recommends nginx` (.ci/run does)",
)

PUBLIC_HOST = "mike.example.com"
PUBLIC = f"https://{PUBLIC_HOST}"
# The test's client connects from its own loopback address, so the address nginx appends to
# X-Forwarded-For differs from the one gunicorn sees (nginx's, 127.0.0.1).
CLIENT_ADDRESS = "127.0.0.23"
SPOOFED = "198.51.100.66"
IMPORT_MAX_MB = 1
MB = 1024 * 1024
TOKEN = "nginx-test-auth-token"
TRACKED = "+18005551234"
CALL_CENTRE = "+18005559999"
STARTUP_SECONDS = 30


# --- The site, rendered --------------------------------------------------------------------------


def committed_upload_limit_mb() -> int:
    match = re.search(r"^\s*client_max_body_size (\d+)m;", SITE.read_text(), re.MULTILINE)
    assert match, "deploy/nginx/mike.conf sets client_max_body_size in MB"
    return int(match.group(1))


def default_import_max_mb() -> int:
    match = re.search(
        r'env\.int\("IMPORT_MAX_MB", default=(\d+)\)', (ROOT / "mike/settings.py").read_text()
    )
    assert match, "mike/settings.py reads IMPORT_MAX_MB with a default"
    return int(match.group(1))


def upload_limit_for(import_max_mb: int) -> int:
    """nginx's client_max_body_size (MB) for an IMPORT_MAX_MB, as deploy/nginx/mike.conf says."""
    return import_max_mb + 10


def render_site(*, upstream_port, http_port, https_port, cert, key, static_root, acme_root) -> str:
    """The committed site with the operator's values replaced by the test's. Each value must be
    found where an operator would edit it, so a change to the file cannot go untested."""
    site = SITE.read_text()
    replacements = [
        ("server 127.0.0.1:8000 ", f"server 127.0.0.1:{upstream_port} "),
        ("    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n"),
        ("    listen [::]:80;\n", ""),
        ("    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port} ssl http2;\n"),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("/etc/letsencrypt/live/mike.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/mike.example.com/privkey.pem", str(key)),
        ("alias /srv/mike/static/;", f"alias {static_root}/;"),
        ("root /var/www/letsencrypt;", f"root {acme_root};"),
        (
            f"client_max_body_size {committed_upload_limit_mb()}m;",
            f"client_max_body_size {upload_limit_for(IMPORT_MAX_MB)}m;",
        ),
    ]
    for old, new in replacements:
        assert site.count(old) == 1, f"{old!r} is not in deploy/nginx/mike.conf exactly once"
        site = site.replace(old, new)
    return site


def self_signed(tmp_path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PUBLIC_HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(PUBLIC_HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def nginx_conf_dir() -> Path:
    """Where this nginx keeps its configuration (mime.types beside nginx.conf)."""
    built = subprocess.run([NGINX, "-V"], capture_output=True, text=True).stderr
    match = re.search(r"--conf-path=(\S+)", built)
    return Path(match.group(1)).parent if match else Path("/etc/nginx")


def main_conf(tmp_path, site: Path) -> str:
    """The http context Debian's nginx.conf gives a site, with every path in tmp_path so nginx
    runs without root's files. As root nginx's workers would switch to `nobody`, who cannot
    read pytest's private tmp_path: they stay root there."""
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "nginx" / name).mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if shutil.os.geteuid() == 0 else ""
    temp = tmp_path / "nginx"
    return f"""{user}worker_processes 1;
pid {temp}/nginx.pid;
error_log {temp}/error.log info;
events {{ worker_connections 256; }}
http {{
    include {nginx_conf_dir() / "mime.types"};
    default_type application/octet-stream;
    sendfile on;
    access_log {temp}/access.log;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""


# --- The servers ---------------------------------------------------------------------------------


def wait_for_port(port: int, process, log: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{what} did not listen in {STARTUP_SECONDS}s:\n{log.read_text()}")


def stop(process, timeout=15) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


class FromClientAddress(HTTPAdapter):
    """Connects from CLIENT_ADDRESS and names the public host in TLS (SNI), as a browser would."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (CLIENT_ADDRESS, 0)
        kwargs["server_hostname"] = PUBLIC_HOST
        super().init_poolmanager(*args, **kwargs)


class Site:
    """The public site as a browser reaches it: https://mike.example.com/ is nginx's port."""

    def __init__(
        self, https_port: int, http_port: int, django_log: Path, access_log: Path, threads: int
    ):
        self.gunicorn_threads = threads
        self.base = f"https://127.0.0.1:{https_port}"
        self.http_base = f"http://127.0.0.1:{http_port}"
        self.https_port = https_port
        self.django_log = django_log
        self.gunicorn_access_log = access_log
        self.session = requests.Session()
        self.session.mount("https://", FromClientAddress())
        # Cookies are kept for this host too (requests stores them under a Host header's name).
        self.session.headers["Host"] = PUBLIC_HOST

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("allow_redirects", False)
        # Per request: a session's verify=False loses to REQUESTS_CA_BUNDLE in the environment.
        kwargs["verify"] = False
        return self.session.request(method, self.base + path, **kwargs)

    def seen_by_django(self, request_id: str) -> dict:
        """The request's line in Mike's request log (logger mike.request)."""
        for _ in range(50):
            for line in self.django_log.read_text().splitlines():
                if line.startswith("{"):
                    entry = json.loads(line)
                    if entry.get("logger") == "mike.request" and entry["request_id"] == request_id:
                        return entry
            time.sleep(0.1)
        raise AssertionError(
            f"no mike.request line for {request_id}:\n{self.django_log.read_text()}"
        )


@pytest.fixture
def site(tmp_path):
    """gunicorn as mike-web.service runs it, nginx with the committed site in front."""
    gunicorn_port, http_port, https_port = free_port(), free_port(), free_port()
    env = server_environment(tmp_path, gunicorn_port)
    env.update(
        ALLOWED_HOSTS=PUBLIC_HOST,
        SITE_URL=PUBLIC,
        IMPORT_MAX_MB=str(IMPORT_MAX_MB),
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN=TOKEN,
        SMS_BACKEND="locmem",
        LOG_FORMAT="json",
        MEDIA_ROOT=str(tmp_path / "media"),
        # No worker runs here: a task would run in the web process, not wait in Redis.
        CELERY_TASK_ALWAYS_EAGER="True",
    )
    collect_static(env)

    # mike-web.service is Type=notify: gunicorn must say READY=1 on $NOTIFY_SOCKET from its
    # main process, or systemd kills it when the start times out.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_address = f"@mike-notify-{uuid.uuid4().hex}"
    notify.bind("\0" + notify_address[1:])
    notify.settimeout(STARTUP_SECONDS)
    env["NOTIFY_SOCKET"] = notify_address

    django_log = tmp_path / "gunicorn.stderr"
    with django_log.open("wb") as stderr:
        gunicorn = subprocess.Popen(
            [str(GUNICORN), "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    nginx = None
    try:
        wait_for_port(gunicorn_port, gunicorn, tmp_path / "error.log", "gunicorn")
        assert notify.recv(4096).decode().startswith("READY=1")
        notify.close()

        cert, key = self_signed(tmp_path)
        acme = tmp_path / "acme"
        (acme / ".well-known" / "acme-challenge").mkdir(parents=True)
        (acme / ".well-known" / "acme-challenge" / "token-1").write_text("proof-1")
        site_file = tmp_path / "mike.conf"
        site_file.write_text(
            render_site(
                upstream_port=gunicorn_port,
                http_port=http_port,
                https_port=https_port,
                cert=cert,
                key=key,
                static_root=tmp_path / "static",
                acme_root=acme,
            )
        )
        conf = tmp_path / "nginx.conf"
        conf.write_text(main_conf(tmp_path, site_file))
        nginx_log = tmp_path / "nginx" / "error.log"
        command = [NGINX, "-p", str(tmp_path / "nginx"), "-e", str(nginx_log), "-c", str(conf)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen(
            [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(https_port, nginx, nginx_log, "nginx")
        wait_for_port(http_port, nginx, nginx_log, "nginx")
        threads = int(env["GUNICORN_WORKERS"]) * int(env["GUNICORN_THREADS"])
        yield Site(https_port, http_port, django_log, tmp_path / "access.log", threads)
    finally:
        if nginx is not None:
            assert stop(nginx) == 0
        assert stop(gunicorn) == 0


@pytest.fixture(autouse=True)
def _unverified_certificate_is_expected():
    """The self-signed certificate is not verified on purpose; urllib3 need not say so."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield


# --- What is checked through nginx ---------------------------------------------------------------


def request_id() -> str:
    return f"nginx-test-{uuid.uuid4().hex}"


def csrf_token(page: requests.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def check_pages_see_https_the_public_host_and_the_client(site: Site) -> requests.Response:
    rid = request_id()
    page = site.request(
        "GET", "/app/login/", headers={"X-Request-ID": rid, "X-Forwarded-For": SPOOFED}
    )
    # HTTPS at nginx is HTTPS to Django: no redirect (SECURE_SSL_REDIRECT is on), and HSTS,
    # which Django sends only on a request it considers secure.
    assert page.status_code == 200, page.text[:500]
    assert "max-age=" in page.headers["Strict-Transport-Security"]
    seen = site.seen_by_django(rid)
    assert (seen["path"], seen["status"]) == ("/app/login/", 200)
    # The address nginx appended, not the one the client wrote before it.
    assert seen["client_ip"] == CLIENT_ADDRESS
    return page


def check_static_files_come_from_nginx(site: Site, page: requests.Response) -> None:
    stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet, "the page links the stylesheet by its hashed name"
    static = site.request("GET", stylesheet.group(1), headers={"Accept-Encoding": "gzip"})
    assert static.status_code == 200
    assert static.headers["Server"].startswith("nginx")
    assert static.headers["Content-Type"] == "text/css; charset=utf-8"
    # gzip_static: collectstatic's .gz copy, sent as it is.
    assert static.headers["Content-Encoding"] == "gzip"
    # `expires max` and the added header: two Cache-Control lines, read together.
    assert static.headers["Cache-Control"] == "max-age=315360000, public, immutable"
    assert static.text == (ROOT / "static" / "css" / "app.css").read_text()
    # nginx answered it alone: gunicorn never saw the request.
    assert stylesheet.group(1) not in site.gunicorn_access_log.read_text()


def check_sign_in_passes_csrfs_origin_check(site: Site, page: requests.Response, user) -> None:
    """Django compares the browser's Origin with the scheme and host it believes: a sign-in only
    passes when both are the public ones (CSRF_TRUSTED_ORIGINS is not set here)."""
    rid = request_id()
    signed_in = site.request(
        "POST",
        "/app/login/",
        data={
            "csrfmiddlewaretoken": csrf_token(page),
            "username": user.email,
            "password": TEST_PASSWORD,
        },
        headers={"Origin": PUBLIC, "X-Request-ID": rid, "X-Forwarded-For": SPOOFED},
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    assert signed_in.headers["Location"] == "/app/"
    assert site.seen_by_django(rid)["client_ip"] == CLIENT_ADDRESS
    assert "Secure" in signed_in.headers["Set-Cookie"]


def check_upload_limits(site: Site, audience) -> None:
    upload = f"/app/audiences/{audience.pk}/import/"
    form = site.request("GET", upload)
    assert form.status_code == 200, form.text[:500]
    token = csrf_token(form)

    def post(size: int) -> requests.Response:
        header = b"first_name,last_name,phone\n"
        row = b"Ada,Lovelace,+15552010101\n"
        body = header + row * ((size - len(header)) // len(row))
        body += b"x" * (size - len(body) - 1) + b"\n"
        assert len(body) == size
        return site.request(
            "POST",
            upload,
            data={"csrfmiddlewaretoken": token},
            files={"file": ("people.csv", body, "text/csv")},
            headers={"Origin": PUBLIC},
            timeout=60,
        )

    # A file of exactly IMPORT_MAX_MB, with the form around it, gets through nginx and is taken.
    at_limit = post(IMPORT_MAX_MB * MB)
    assert at_limit.status_code == 302, at_limit.text[:500]
    assert "/columns/" in at_limit.headers["Location"]
    # One byte over it reaches Mike, which says what the limit is.
    over = post(IMPORT_MAX_MB * MB + 1)
    assert over.status_code == 400
    assert f"the limit is {IMPORT_MAX_MB} MB" in over.text
    # Far past it, nginx refuses it before Mike reads a byte.
    far = post((upload_limit_for(IMPORT_MAX_MB) + 1) * MB)
    assert far.status_code == 413
    assert far.headers["Server"].startswith("nginx")


def check_slow_uploads_do_not_hold_gunicorn(site: Site) -> None:
    """More slow uploads than gunicorn has threads, each stuck half way: nginx holds them, so a
    request behind them is answered at once."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    slow = []
    try:
        for _ in range(site.gunicorn_threads + 1):
            raw = socket.create_connection(
                ("127.0.0.1", site.https_port), timeout=5, source_address=(CLIENT_ADDRESS, 0)
            )
            conn = context.wrap_socket(raw, server_hostname=PUBLIC_HOST)
            conn.sendall(
                # A view that reads its body first: the webhook's signature check.
                b"POST /hooks/twilio/voice/ HTTP/1.1\r\nHost: " + PUBLIC_HOST.encode() + b"\r\n"
                b"X-Twilio-Signature: slow\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100000\r\n\r\nCallSid=CA"
            )
            slow.append(conn)
        time.sleep(1)  # time for nginx to pass them on, were it to
        started = time.monotonic()
        try:
            health = site.request("GET", "/healthz/", timeout=5)
        except requests.Timeout:
            pytest.fail("slow uploads hold every gunicorn thread: nginx passed them on unbuffered")
        assert health.status_code == 200
        assert time.monotonic() - started < 2
    finally:
        for conn in slow:
            conn.close()


def check_twilio_webhook_signed_for_the_public_url(site: Site) -> None:
    params = {"CallSid": "CA" + "1" * 32, "From": "+15552010001", "To": TRACKED}
    voice = "/hooks/twilio/voice/"
    validator = RequestValidator(TOKEN)
    signed = site.request(
        "POST",
        voice,
        data=params,
        headers={"X-Twilio-Signature": validator.compute_signature(PUBLIC + voice, params)},
    )
    assert signed.status_code == 200, signed.text[:500]
    assert f">{CALL_CENTRE}</Dial>" in signed.text
    # The callback URL Mike gives Twilio is the public one too.
    assert f'action="{PUBLIC}/hooks/twilio/voice/status/"' in signed.text

    # Signed for plain HTTP, which is not what Twilio called: refused.
    plain_url = f"http://{PUBLIC_HOST}{voice}"
    refused = site.request(
        "POST",
        voice,
        data={**params, "CallSid": "CA" + "2" * 32},
        headers={"X-Twilio-Signature": validator.compute_signature(plain_url, params)},
    )
    assert refused.status_code == 403


def check_healthz_and_http2(site: Site) -> None:
    health = site.request("GET", "/healthz/")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", site.https_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=PUBLIC_HOST) as conn,
    ):
        assert conn.selected_alpn_protocol() == "h2"


def check_plain_http_goes_to_https(site: Site) -> None:
    plain = requests.get(
        site.http_base + "/app/login/?next=/app/",
        headers={"Host": PUBLIC_HOST},
        allow_redirects=False,
        timeout=5,
    )
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"{PUBLIC}/app/login/?next=/app/"
    # Except a certificate authority's challenge, answered over HTTP from its folder.
    challenge = requests.get(
        site.http_base + "/.well-known/acme-challenge/token-1",
        headers={"Host": PUBLIC_HOST},
        allow_redirects=False,
        timeout=5,
    )
    assert (challenge.status_code, challenge.text) == (200, "proof-1")


def test_the_committed_upload_limit_follows_import_max_mb():
    assert committed_upload_limit_mb() == upload_limit_for(default_import_max_mb())


@pytest.mark.django_db(transaction=True)
def test_nginx_with_the_deploy_site_in_front_of_gunicorn(site):
    client = factories.ClientFactory(name="Summit Roofing")
    admin = factories.UserFactory(email="client.admin@summit.test")
    # The suite hashes passwords with MD5 for speed; gunicorn has the production hashers.
    pbkdf2 = PBKDF2PasswordHasher()
    admin.password = pbkdf2.encode(TEST_PASSWORD, pbkdf2.salt())
    admin.save(update_fields=["password"])
    grant_role(user=admin, role=Role.CLIENT_ADMIN, organization=client)
    audience = factories.AudienceFactory(client=client)
    campaign = factories.CampaignFactory(client=client)
    factories.TrackedPhoneNumberFactory(
        campaign=campaign, phone_number=TRACKED, forward_to_number=CALL_CENTRE
    )

    login_page = check_pages_see_https_the_public_host_and_the_client(site)
    check_static_files_come_from_nginx(site, login_page)
    check_sign_in_passes_csrfs_origin_check(site, login_page, admin)
    check_upload_limits(site, audience)
    check_twilio_webhook_signed_for_the_public_url(site)
    check_healthz_and_http2(site)
    check_plain_http_goes_to_https(site)
    check_slow_uploads_do_not_hold_gunicorn(site)
