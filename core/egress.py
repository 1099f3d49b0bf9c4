"""Which addresses a URL a user gave may reach from this server.

Not the server's own network: loopback, link-local (where clouds serve instance metadata and
credentials), the unspecified address, multicast and reserved ranges, IPv4 written as IPv6
included. Private ranges are allowed: a model on the LAN is what self-hosting looks like. An
operator whose users run their models on the server itself turns the refusal off.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

# Metadata services outside the link-local range (AWS over IPv6, Alibaba Cloud).
METADATA_ADDRESSES = {
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


def address_refused(address: str) -> bool:
    """Whether ``address`` (an IP, as getaddrinfo gives it) is one of the server's own."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or ip in METADATA_ADDRESSES
        or (isinstance(ip, ipaddress.IPv4Address) and ip in THIS_NETWORK)
    )


def refused_among(host: str, addresses: list[str]) -> str | None:
    """Why ``host`` may not be reached when one of its ``addresses`` is refused, else None.
    One is enough: a name that resolves to a public and a local address picks either."""
    refused = next((address for address in addresses if address_refused(address)), None)
    if refused is None:
        return None
    return f"{host} is at {refused}, on this server's own network."


def url_refusal(url: str) -> str | None:
    """Why ``url``'s host may not be reached, resolved now, or None. A name that does not
    resolve (yet) passes: the address is checked again when a request is made."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    return refused_among(host, [info[4][0] for info in infos])
