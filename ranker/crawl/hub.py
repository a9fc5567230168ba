"""The crawler's only door to the hub: `HfApi.list_models`, turned into plain `Listing` records.

Everything the crawler needs comes back in the listing itself (`expand=`), one request per page,
so a model whose sha has not changed costs no request of its own. `HF_ENDPOINT` and `HF_TOKEN`
are honoured by huggingface_hub itself (endpoint and token default to None); its own backoff
retries 429 (after `Retry-After`) and 5xx. Every HTTP request the shared huggingface_hub session
sends, retries included, is counted so that the crawl can report what it cost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ranker.crawl.classify import Listing
from ranker.errors import RankerError

# What the listing returns per model: enough to classify and catalogue without model_info.
EXPAND: tuple[str, ...] = (
    "config", "sha", "lastModified", "downloads", "likes", "tags", "cardData", "library_name",
    "pipeline_tag", "safetensors", "gated", "private", "disabled",
)  # fmt: skip


class HubError(RankerError):
    """The hub refused or failed a listing, after huggingface_hub's own retries."""


class _RequestCounter:
    """Counts the requests huggingface_hub's shared HTTP client sends to one endpoint.

    A request event hook, so retries count too; requests elsewhere (huggingface_hub's own
    once-a-process telemetry, say) do not.
    """

    def __init__(self, endpoint: str) -> None:
        self.prefix = endpoint.rstrip("/") + "/"
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, request: Any) -> None:
        if str(request.url).startswith(self.prefix):
            with self._lock:
                self.total += 1

    def attach(self) -> None:
        """Hook into the current shared session (it is recreated after connection errors)."""
        from huggingface_hub import get_session

        client = get_session()
        hooks = client.event_hooks
        if self not in hooks["request"]:
            client.event_hooks = {**hooks, "request": [*hooks["request"], self]}

    def detach(self) -> None:
        from huggingface_hub import get_session

        client = get_session()
        hooks = client.event_hooks
        if self in hooks["request"]:
            kept = [h for h in hooks["request"] if h is not self]
            client.event_hooks = {**hooks, "request": kept}


def _transport_errors() -> tuple[type[BaseException], ...]:
    """HTTP and network errors of whichever HTTP library this huggingface_hub uses."""
    import importlib

    from huggingface_hub.errors import HfHubHTTPError

    errors: list[type[BaseException]] = [HfHubHTTPError, OSError]
    for name in ("httpx2", "httpx", "requests"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        error = getattr(module, "HTTPError", None) or getattr(module, "RequestException", None)
        if isinstance(error, type) and issubclass(error, BaseException):
            errors.append(error)
    return tuple(errors)


def _listing(info: Any) -> Listing:
    """Plain values from a huggingface_hub ModelInfo (so classify needs no huggingface_hub)."""
    card = info.card_data.to_dict() if info.card_data is not None else {}
    safetensors = info.safetensors
    return Listing(
        model_id=info.id,
        sha=info.sha,
        last_modified=info.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ")
        if info.last_modified
        else None,
        downloads=info.downloads,
        likes=info.likes,
        tags=tuple(info.tags or ()),
        card_license=card.get("license"),
        library=info.library_name,
        pipeline_tag=info.pipeline_tag,
        params=safetensors.total if safetensors is not None else None,
        gated=bool(info.gated),
        private=bool(info.private),
        disabled=bool(info.disabled),
        config=info.config if isinstance(info.config, dict) else None,
    )


class HubClient:
    """Lists models through huggingface_hub; `requests` is how many HTTP requests it has sent."""

    def __init__(self, endpoint: str | None = None, token: str | bool | None = None) -> None:
        from huggingface_hub import HfApi

        self.api = HfApi(endpoint=endpoint, token=token)
        self.endpoint = self.api.endpoint
        self._counter = _RequestCounter(self.endpoint)

    @property
    def requests(self) -> int:
        return self._counter.total

    def list_models(self, tag: str) -> list[Listing]:
        """Every model carrying `tag`, with the EXPAND metadata; raises HubError on failure."""
        self._counter.attach()
        try:
            return list(self._iter(tag))
        except _transport_errors() as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise HubError(f"listing models tagged {tag!r} at {self.endpoint}: {first}") from exc
        finally:
            self._counter.detach()

    def _iter(self, tag: str) -> Iterator[Listing]:
        for info in self.api.list_models(filter=tag, expand=list(EXPAND)):  # type: ignore[arg-type]
            self._counter.attach()
            yield _listing(info)
