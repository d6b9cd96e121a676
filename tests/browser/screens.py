"""Screen sizes and where browser tests keep their screenshots."""

import re
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / ".pytest_artifacts" / "browser"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def screenshot_path(test_name: str, label: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', test_name)}-{label}.png"
