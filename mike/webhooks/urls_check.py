"""Where Mike may post: a webhook URL names a host on the internet, not one of Mike's own
neighbours (the metadata service, the database, localhost), unless WEBHOOK_ALLOW_LOCAL_URLS
(on in development and tests, where the receivers are local servers)."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from mike.core.errors import DomainError


class UnsafeUrl(DomainError, ValueError):
    """The URL may not be posted to; the message says why, for the subscription's owner."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, resolve: bool = False) -> None:
    """Raise UnsafeUrl when Mike must not post to `url`. `resolve` also looks the host up (at
    send time, so a name re-pointed at a private address after it was saved is refused)."""
    parts = urlsplit(url)
    allow_local = settings.WEBHOOK_ALLOW_LOCAL_URLS
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeUrl("The URL must start with https:// and name a host.")
    if parts.scheme != "https" and not allow_local:
        raise UnsafeUrl("The URL must use https://.")
    if parts.username or parts.password:
        raise UnsafeUrl("Put no user name or password in the URL; check the signature instead.")
    if allow_local:
        return
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host).compressed]
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise UnsafeUrl("The URL must name a host on the internet.") from None
        if not resolve:
            return
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except OSError:
            raise UnsafeUrl(f"The host {host} could not be found.") from None
        addresses = [info[4][0] for info in infos]
    if not all(_is_public(address) for address in addresses):
        raise UnsafeUrl("The URL must name a host on the internet, not a private address.")
