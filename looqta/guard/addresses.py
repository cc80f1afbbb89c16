"""Which IP addresses a crawl must not reach unless its site is configured there: pure functions."""

from __future__ import annotations

import ipaddress

#: The NAT64 well-known prefix (RFC 6052): its addresses embed an IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(text: str) -> str | None:
    """Why a crawl must not connect to ``text`` (``address_loopback``, ``address_private``,
    ``address_link_local``, ``address_non_public``), or ``None`` for a public address.
    An IPv6 address carrying an IPv4 one is judged by both; text that is no address is refused."""
    try:
        address: IPAddress = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return "address_invalid"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_refusal(str(address.ipv4_mapped))  # the very same IPv4 address
    inner = embedded_ipv4(address)
    if inner is not None:
        refusal = address_refusal(str(inner))
        if refusal is not None:
            return refusal
    if address.is_loopback:
        return "address_loopback"
    if address.is_link_local:
        return "address_link_local"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "address_private"
    if address.is_private:
        return "address_private"
    if not address.is_global or address.is_multicast:
        return "address_non_public"
    return None


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
