"""Settings of the web benchmark's server (bench/web.py): Mike's, as production runs them (DEBUG
off, persistent connections), plus one bare view to compare against (bench/web_urls.py)."""

from mike.settings import *  # noqa: F403

ROOT_URLCONF = "bench.web_urls"
