"""The address check of the origin guard: a pure function, no name is ever resolved here."""

from __future__ import annotations

import pytest

from looqta.guard.addresses import address_refusal, embedded_ipv4, is_ip_literal


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "address_loopback"),
        ("127.255.0.9", "address_loopback"),
        ("::1", "address_loopback"),
        ("10.1.2.3", "address_private"),
        ("172.16.0.1", "address_private"),
        ("192.168.1.1", "address_private"),
        ("fd00::1", "address_private"),  # unique local
        ("fec0::1", "address_private"),  # deprecated site-local
        ("169.254.169.254", "address_link_local"),  # the cloud metadata service
        ("fe80::1", "address_link_local"),
        ("fe80::1%eth0", "address_link_local"),  # with a zone
        ("0.0.0.0", "address_private"),  # "this host"
        ("::", "address_private"),
        ("100.64.0.1", "address_non_public"),  # carrier-grade NAT
        ("224.0.0.1", "address_non_public"),  # multicast
        ("ff02::1", "address_non_public"),
        ("240.0.0.1", "address_private"),  # reserved
        ("255.255.255.255", "address_private"),
        # IPv6 addresses that carry an IPv4 one are judged by it
        ("::ffff:127.0.0.1", "address_loopback"),  # IPv4-mapped
        ("::ffff:7f00:1", "address_loopback"),  # the same, written in hex
        ("::ffff:10.0.0.1", "address_private"),
        ("::ffff:169.254.169.254", "address_link_local"),
        ("2002:7f00:1::", "address_loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "address_link_local"),  # 6to4 of 169.254.169.254
        ("64:ff9b::7f00:1", "address_loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", "address_private"),  # NAT64 of 10.0.0.1
        ("not an address", "address_invalid"),
        ("", "address_invalid"),
    ],
)
def test_non_public_addresses_are_refused_with_their_kind(address: str, reason: str) -> None:
    assert address_refusal(address) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(address) is None


def test_the_ipv4_address_inside_an_ipv6_one_is_found() -> None:
    import ipaddress

    assert str(embedded_ipv4(ipaddress.ip_address("::ffff:192.168.0.1"))) == "192.168.0.1"
    assert str(embedded_ipv4(ipaddress.ip_address("2001:0:4136:e378:8000:63bf:3fff:fdd2"))) == "192.0.2.45"
    assert embedded_ipv4(ipaddress.ip_address("2606:4700::1")) is None
    assert embedded_ipv4(ipaddress.ip_address("10.0.0.1")) is None


def test_ip_literals_are_told_from_names() -> None:
    assert is_ip_literal("127.0.0.1")
    assert is_ip_literal("::1")
    assert not is_ip_literal("localhost")
    assert not is_ip_literal("www.amazon.ae")
