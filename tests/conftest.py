"""Session-wide fixtures: one loopback hub server and the tiny models, built once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ranker.testing.hub import FakeHub


@pytest.fixture(scope="session")
def hub_server() -> Iterator[FakeHub]:
    """The loopback hub, started once; use the `hub` fixture, which empties it per test.

    Telemetry off, so huggingface_hub sends no request of its own (its agent detection
    fetches a registry from the default endpoint once per process).
    """
    from huggingface_hub import constants

    telemetry = constants.HF_HUB_DISABLE_TELEMETRY
    constants.HF_HUB_DISABLE_TELEMETRY = True
    try:
        with FakeHub() as hub:
            yield hub
    finally:
        constants.HF_HUB_DISABLE_TELEMETRY = telemetry


@pytest.fixture
def hub(hub_server: FakeHub) -> Iterator[FakeHub]:
    """The session's loopback hub with no repos, faults or counts."""
    hub_server.reset()
    yield hub_server
    hub_server.reset()


@pytest.fixture(scope="session")
def tiny_files() -> dict[str, dict[str, bytes]]:
    """Files of tiny random models with real tokenizers (torch + transformers, ~seconds)."""
    pytest.importorskip("transformers")
    from ranker.testing.models import tiny_set

    return tiny_set()
