"""Shared fixtures. The sandbox runs once per session on free loopback ports."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from looqta.sandbox.client import SandboxProcess

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    """A started ``python -m looqta.sandbox`` (default options: both sites, 10,000 products)."""
    with SandboxProcess() as process:
        yield process


@pytest.fixture
def clean_sandbox(sandbox: SandboxProcess) -> Iterator[SandboxProcess]:
    """The session sandbox with no faults and an empty request log, before and after the test."""
    sandbox.clear_faults()
    sandbox.clear_requests()
    yield sandbox
    sandbox.clear_faults()
    sandbox.clear_requests()
