"""The shape of the code: which package may import which (STYLE.md, "Dependencies point down").

- A domain app (campaigns, recipients, giftcards, calls, crm) owns its models, services and
  selectors. It reads other domains' models and selectors, but never calls another domain's
  services or tasks: work that spans domains is the reward pipeline's, `mike.rewards`.
- Below the web layer (views, urls, admin, forms, commands), a domain app does not reach up into
  the pipeline or the demo tooling either.
- `mike/core` (base model, errors, phones, SMS backends) and `mike/accounts` import no domain app.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_APPS = ("campaigns", "recipients", "giftcards", "calls", "crm")
UPPER = ("mike.rewards", "mike.demo")
# The web layer of a domain app sits on top, beside the pipeline, and may call it.
WEB_LAYER = ("views", "urls", "admin", "forms", "redemption", "management")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function, relative imports resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from giftcards import services` imports giftcards.services.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _python_files(package: str):
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def _is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _crosses_into_services(module: str, own_app: str) -> bool:
    parts = module.split(".")
    return (
        parts[0] in DOMAIN_APPS
        and parts[0] != own_app
        and len(parts) > 1
        and parts[1] in ("services", "tasks")
    )


def test_the_walk_sees_every_kind_of_import(tmp_path, monkeypatch):
    """The checks below can only fail if the walk finds imports: prove it on a known file."""
    imports = _imports(ROOT / "mike" / "rewards" / "delivery.py")
    assert "giftcards.services.delivery" in imports  # `from giftcards.services import delivery`
    assert "mike.rewards.claims" in imports  # a relative import inside a function
    assert _crosses_into_services("giftcards.services.delivery", "recipients")
    assert not _crosses_into_services("giftcards.services.delivery", "giftcards")
    assert not _crosses_into_services("giftcards.models", "recipients")


@pytest.mark.parametrize("app", DOMAIN_APPS)
def test_a_domain_app_never_calls_another_domains_services_or_tasks(app):
    offending = [
        f"{_module_name(path)} imports {module}"
        for path in _python_files(app)
        for module in sorted(_imports(path))
        if _crosses_into_services(module, app)
    ]
    assert offending == []


@pytest.mark.parametrize("app", DOMAIN_APPS)
def test_below_the_web_layer_a_domain_app_does_not_reach_up(app):
    offending = []
    for path in _python_files(app):
        module = _module_name(path)
        if module.split(".")[1:2] and module.split(".")[1] in WEB_LAYER:
            continue
        offending += [
            f"{module} imports {imported}"
            for imported in sorted(_imports(path))
            if any(_is_under(imported, upper) for upper in UPPER)
        ]
    assert offending == []


@pytest.mark.parametrize("package", ["mike.core", "mike.accounts"])
def test_core_and_accounts_import_no_domain_app(package):
    forbidden = (*DOMAIN_APPS, *UPPER)
    if package == "mike.core":
        forbidden += ("mike.accounts",)
    offending = [
        f"{_module_name(path)} imports {module}"
        for path in _python_files(package)
        for module in sorted(_imports(path))
        if any(_is_under(module, other) for other in forbidden)
    ]
    assert offending == []


def test_domain_apps_keep_no_celery_tasks_of_their_own():
    """Every task triggers pipeline work, so every task lives in mike.rewards.tasks."""
    assert [app for app in DOMAIN_APPS if (ROOT / app / "tasks.py").exists()] == []


def test_the_pipeline_has_no_models():
    assert not (ROOT / "mike" / "rewards" / "models.py").exists()


def test_every_task_keeps_the_name_queued_messages_and_beat_use():
    """Messages already in the broker, and the beat schedule, name tasks by their registered
    names; moving a task's code must not change them."""
    from django.conf import settings

    from mike.celery import app

    app.loader.import_default_modules()
    registered = set(app.tasks)
    names = {
        "giftcards.tasks.deliver_gift_card",
        "giftcards.tasks.sweep_stuck_work",
        "giftcards.tasks.send_stock_alerts",
        "recipients.tasks.send_opt_in_sms",
        "calls.tasks.apply_time_delay_conditions",
        "campaigns.tasks.roll_up_daily_counts",
        "crm.tasks.process_crm_event",
        "crm.tasks.sweep_crm_events",
        # Named by its module: it never lived in a domain app.
        "mike.rewards.tasks.purge_expired_personal_data",
        # Not pipeline work: the import engine's own tasks (mike.imports.tasks).
        "mike.imports.tasks.run_import_job",
        "mike.imports.tasks.resume_stale_imports",
        # Not pipeline work either: the API's and the event webhooks' own.
        "mike.api.tasks.purge_idempotency_records",
        "mike.webhooks.tasks.send_webhook_delivery",
        "mike.webhooks.tasks.sweep_webhook_deliveries",
        # Not pipeline work: writing a landing page's content (mike.landing.tasks).
        "mike.landing.tasks.generate_landing_page",
    }
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= names
    assert names - registered == set()
