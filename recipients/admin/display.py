"""How the admin shows a recipient's redemption code: whole only on the recipient's own page, to
users with the permission; masked everywhere else."""

from giftcards.crypto import MASK

# Codes unlock cards at /redeem/; the admin shows them whole only on the recipient's own page, and
# there only to users with this permission.
SEE_CODES = "recipients.view_redemption_code"


def masked_code(code: str) -> str:
    """A redemption code as lists show it: the mask and its last two characters (`•••• 9P`), as
    card codes show their last four. Two of ten symbols leave 40 bits unknown. The space does not
    break, so a narrow column never splits the mask from the characters."""
    return f"{MASK}\N{NO-BREAK SPACE}{code[-2:]}" if code else MASK


def recipient_label(recipient) -> str:
    """`Recipient.__str__` with the code masked, for every page but the recipient's own."""
    return f"{recipient.full_name or 'Recipient'} ({masked_code(recipient.redemption_code)})"
