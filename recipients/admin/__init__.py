"""The recipients admin, one module per family of pages; importing them registers them."""

from . import logs, recipients  # noqa: F401
from .display import masked_code, recipient_label  # noqa: F401
