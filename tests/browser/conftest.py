"""Headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright against pytest-django's
`live_server`.

Chromium comes from apt (`bash .ci/run` installs it): `playwright install` cannot download browsers
on these machines. A failing test leaves a full-page screenshot in ARTIFACTS, printed at the end of
the run; tests also save screenshots of the pages they check there.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from .screens import ARTIFACTS, DESKTOP, screenshot_path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # Without these Chromium keeps calling home, which this machine refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 5_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test, so the page fixture knows at teardown if it failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter):
    if ARTIFACTS.is_dir() and any(ARTIFACTS.glob("*.png")):
        terminalreporter.write_line(f"Browser screenshots: {ARTIFACTS}")


@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (bash .ci/run does).")
    # Playwright's sync API keeps an asyncio loop running in this thread, and Django refuses ORM
    # calls from a thread with a running loop (SynchronousOnlyOperation); the tests' own ORM calls
    # are synchronous, so the check is lifted while the browser is up, and only then.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_page(browser, live_server, request):
    """`open_page(viewport=PHONE)`: a fresh page (own cookies) on the live server; every page a
    failing test opened is saved as a screenshot."""
    contexts = []

    def open_(*, viewport=DESKTOP, **options):
        context = browser.new_context(base_url=live_server.url, viewport=viewport, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_
    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    for index, context in enumerate(contexts):
        if failed:
            for number, page in enumerate(context.pages):
                page.screenshot(
                    path=screenshot_path(request.node.name, f"failed-{index}-{number}"),
                    full_page=True,
                )
        context.close()
