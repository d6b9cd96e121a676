"""deploy/systemd's units: systemd itself checks them (`systemd-analyze verify`, on a copy pointing
at this checkout and its virtualenv instead of /srv/mike/app), they run what the Procfile runs, and
they agree with deploy/mike.env.example and deploy/nginx/mike.conf on every path and address the
three share. (That gunicorn tells systemd it is ready, as Type=notify needs, is checked where it
runs behind nginx: tests/serving/test_nginx.py.)"""

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ("mike-web", "mike-worker", "mike-beat")
APP = "/srv/mike/app"
VENV_BIN = f"{APP}/.venv/bin/"
BIN = Path(sys.executable).parent
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
PROCFILE_ENTRY = {"mike-web": "web", "mike-worker": "worker", "mike-beat": "beat"}


def unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read(DEPLOY / "systemd" / f"{name}.service")
    return parser["Service"]


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "mike.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name] = value
    return values


def procfile_argv(entry: str) -> list[str]:
    """The Procfile entry's words as honcho's shell expands them (no CELERY_* set: defaults)."""
    command = next(
        line.split(":", 1)[1].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith(f"{entry}:")
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("CELERY_")}
    expanded = subprocess.run(
        ["sh", "-c", f'set -- {command}; printf "%s\\0" "$@"'],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return expanded.stdout.split("\0")[:-1]


@pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="SYSTEMD-ANALYZE MISSING: deploy/systemd was NOT verified by systemd; it comes with "
    "the `systemd` package",
)
def test_systemd_analyze_verifies_the_units(tmp_path):
    for name in UNITS:
        text = (DEPLOY / "systemd" / f"{name}.service").read_text()
        assert VENV_BIN in text
        text = text.replace(VENV_BIN, f"{BIN}/").replace(APP, str(ROOT))
        (tmp_path / f"{name}.service").write_text(text)

    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *(f"{name}.service" for name in UNITS)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # A warning (an unknown key, a bad value, a missing program) is a failure too.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", UNITS)
def test_each_unit_runs_its_procfile_command_as_mike_from_the_layout(name):
    service = unit(name)
    first_line = (DEPLOY / "mike.env.example").read_text().splitlines()[0]
    environment_file = first_line.split()[1]

    assert (service["User"], service["Group"]) == ("mike", "mike")
    assert service["WorkingDirectory"] == APP
    assert service["EnvironmentFile"] == environment_file == "/etc/mike/mike.env"
    assert service["Restart"] in {"always", "on-failure"}

    argv = shlex.split(service["ExecStart"])
    assert argv[0].startswith(VENV_BIN), "the program is the checkout's virtualenv's"
    program = argv[0].removeprefix(VENV_BIN)
    assert (BIN / program).exists(), f"{program} is not installed in the virtualenv"
    expected = procfile_argv(PROCFILE_ENTRY[name])
    if name == "mike-beat":
        # The schedule lives in the unit's state directory, the one place beat may write.
        schedule = argv.index("--schedule") + 1
        assert argv[schedule].startswith(f"/var/lib/{service['StateDirectory']}/")
        argv[schedule] = expected[schedule]
    assert [program, *argv[1:]] == expected


def test_the_units_write_only_where_the_environment_says():
    media = env_example()["MEDIA_ROOT"]
    for name in ("mike-web", "mike-worker"):
        service = unit(name)
        assert service["ProtectSystem"] == "strict"
        assert service["ReadWritePaths"].split() == [media]

    web = unit("mike-web")
    socket_setting = web["Environment"].split("=", 1)
    assert socket_setting[0] == "GUNICORN_CONTROL_SOCKET"
    assert Path(socket_setting[1]).parent == Path("/run") / web["RuntimeDirectory"]


def test_the_web_unit_waits_longer_than_gunicorns_graceful_stop():
    web = unit("mike-web")
    graceful = re.search(
        r'_int\("GUNICORN_GRACEFUL_TIMEOUT", (\d+)\)', (ROOT / "gunicorn.conf.py").read_text()
    )
    assert web["Type"] == "notify"
    assert web["KillMode"] == "mixed"
    assert int(web["TimeoutStopSec"]) > int(graceful.group(1))


def test_the_environment_example_agrees_with_the_nginx_site():
    values = env_example()
    site = (DEPLOY / "nginx" / "mike.conf").read_text()
    upstream = re.search(r"upstream mike_web \{\s*server (\S+) ", site).group(1)
    server_names = set(re.findall(r"server_name (\S+);", site))
    static = re.search(r"location /static/ \{\s*alias (\S+);", site).group(1)

    assert values["GUNICORN_BIND"] == upstream
    assert server_names == {values["ALLOWED_HOSTS"]}
    assert (
        values["SITE_URL"] == values["CSRF_TRUSTED_ORIGINS"] == f"https://{values['ALLOWED_HOSTS']}"
    )
    assert static == values["STATIC_ROOT"] + "/"
    # One proxy: nginx.
    assert values["TRUSTED_PROXY_COUNT"] == "1"
