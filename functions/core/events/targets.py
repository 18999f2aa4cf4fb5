"""Where a webhook may point. A URL whose host resolves to a loopback, private, link-local or
otherwise internal address is refused, so a webhook cannot reach inside the service's network
(SSRF); `MOVIEDB_WEBHOOK_ALLOW_PRIVATE=true` allows loopback and private ranges for local use.
The cloud metadata addresses (169.254.169.254, fd00:ec2::254) are refused always. Checked when
a webhook is registered and again before every delivery (DNS may have changed)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from functions.core.errors import MovieDbError

METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


@dataclass
class UnsafeWebhookTarget(MovieDbError):
    url: str
    reason: str

    def __str__(self) -> str:
        return f"the webhook URL {self.url!r} is refused: {self.reason}"


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_unspecified or address.is_multicast:
        return f"{address} is not an address to deliver to"
    if address.is_loopback or address.is_private:
        return "" if allow_private else f"{address} is a loopback or private address"
    if not address.is_global:
        return f"{address} is not a public address"
    return ""


def check_target(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeWebhookTarget unless `url` is an http(s) URL whose host resolves only to
    addresses a webhook may reach."""
    try:
        parts = urlsplit(url)  # ValueError for a bracketed host that is not an IPv6 address
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(char < " " or char == "\x7f" for char in url)
    ):
        raise UnsafeWebhookTarget(
            url, "it must be an http:// or https:// URL with a host and no control character"
        )
    if parts.username or parts.password:
        raise UnsafeWebhookTarget(url, "credentials in the URL are not accepted")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as e:
        raise UnsafeWebhookTarget(url, f"its host does not resolve ({type(e).__name__})") from e
    for *_, sockaddr in found:
        reason = _refusal(ipaddress.ip_address(sockaddr[0]), allow_private)
        if reason:
            raise UnsafeWebhookTarget(url, reason)
