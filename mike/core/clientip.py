"""The address of the client a request came from, as seen through the reverse proxies Mike trusts.

Behind a reverse proxy REMOTE_ADDR is the proxy's address, shared by every customer; the client's
is in X-Forwarded-For, where each proxy appends the address that connected to it. Only the entries
appended by Mike's own proxies can be believed: anything to their left was written by the client.
TRUSTED_PROXY_COUNT says how many there are.
"""

import ipaddress

from django.conf import settings

# The key of requests that carry no usable address (a Unix-socket upstream leaves REMOTE_ADDR
# empty). They share one rate-limit counter instead of failing.
UNKNOWN = "unknown"


def _parse_ip(value: str) -> str | None:
    """`value` as a normalised IP address, or None when it is not one. Tolerates the port some
    proxies append (`203.0.113.5:41234`, `[2001:db8::1]:443`)."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d; it is that IPv4 client.
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def client_ip(request) -> str:
    """The client's IP address, or UNKNOWN when the request carries none that can be trusted.

    With TRUSTED_PROXY_COUNT = 0 (clients connect directly) it is REMOTE_ADDR. With N proxies it
    is the X-Forwarded-For entry N from the right: the address the outermost trusted proxy saw.
    When the header has fewer entries (a request that came in past some of the proxies), every
    entry was written by a trusted proxy and the leftmost is the client's. Never looks further
    left than N entries, so a client cannot choose its address by sending the header itself.
    An entry that is not an IP address falls back to REMOTE_ADDR.

    The answer is always a string, usable as a rate-limit key; UNKNOWN is not an address, so store
    `None` instead of it in an IP field.
    """
    remote = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        header = request.META.get("HTTP_X_FORWARDED_FOR", "")
        entries = [entry for entry in (part.strip() for part in header.split(",")) if entry]
        if entries:
            forwarded = _parse_ip(entries[-min(hops, len(entries))])
            if forwarded:
                return forwarded
    return remote or UNKNOWN


def login_client_ip(request) -> str | None:
    """`client_ip` for django-axes, which stores the address in an IP field: None when unknown."""
    address = client_ip(request)
    return None if address == UNKNOWN else address
