"""The gift card admin, one module per family of pages; importing them registers them."""

from . import alerts, credit, inventory, rewards  # noqa: F401
