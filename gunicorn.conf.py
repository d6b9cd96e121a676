"""gunicorn's configuration for Mike (`gunicorn -c gunicorn.conf.py mike.wsgi`), read from the
environment so one file serves every machine; `.env.example` documents each variable.

Sync workers with threads: Mike's requests are short database work, and a few threads per worker
ride out the odd slow one (a Twilio signature lookup, a large export) without another process.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


wsgi_app = "mike.wsgi:application"
# Where gunicorn listens: behind nginx a local address or unix:/run/mike/gunicorn.sock.
bind = _str("GUNICORN_BIND", "127.0.0.1:8000").split(",")
# Processes: twice the cores plus one is gunicorn's own rule of thumb.
workers = _int("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1)
threads = _int("GUNICORN_THREADS", 4)
# A request running longer than this (seconds) gets its worker restarted.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (a deploy, systemctl stop) workers finish their requests for this long.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Seconds an idle keep-alive connection from the proxy stays open; keep nginx's upstream
# keepalive_timeout below it (deploy/nginx/mike.conf), so gunicorn never closes one nginx reuses.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# A worker is replaced after this many requests (plus up to the jitter, so they do not all restart
# at once): a slow leak in a library stays bounded. 0 turns it off.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)
# The proxies allowed to set gunicorn's own forwarded scheme (wsgi.url_scheme). Django decides
# what it believes from TRUSTED_PROXY_COUNT (mike/settings.py); this is only gunicorn's layer.
forwarded_allow_ips = _str("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# "-" is standard output / standard error (journald under systemd).
accesslog = _str("GUNICORN_ACCESS_LOG", "-")
errorlog = _str("GUNICORN_ERROR_LOG", "-")
loglevel = _str("GUNICORN_LOG_LEVEL", "info")
# The client address nginx saw (X-Forwarded-For), then gunicorn's usual fields and the duration.
access_log_format = (
    '%({x-forwarded-for}i)s %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
)
# Workers' heartbeat files: set a memory file system (/dev/shm) where the disk may stall, as
# gunicorn advises in containers; empty is gunicorn's default (the system's temporary directory).
worker_tmp_dir = _str("GUNICORN_WORKER_TMP_DIR", "") or None
# gunicorn's control socket (`gunicornc`): defaults to ~/.gunicorn/, which systemd's ProtectHome
# hides; deploy/systemd/mike-web.service points it at its RuntimeDirectory. Empty: the default.
_control_socket = _str("GUNICORN_CONTROL_SOCKET", "")
if _control_socket:
    control_socket = _control_socket
