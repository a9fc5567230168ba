"""What `check_request` makes of an issue: a `Decision` (the reply, and what to store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ranker.errors import Reason
from ranker.explain import ADVICE, PENDING
from ranker.records import CatalogEntry, ModelRequest
from ranker.requests.words import NOTHING_NEEDED, UNCHECKED_WHY

EXIT_UNCHECKED = 3  # `request check` could not check the request (not the model's doing)

# "queued", "already-queued", "answered", "rejected" (a verdict on the model or the id), or
# "unchecked" (the check could not be made: no verdict)
Outcome = Literal["queued", "already-queued", "answered", "rejected", "unchecked"]


@dataclass(frozen=True)
class Decision:
    """What `check_request` made of an issue: the reply, and what to store."""

    outcome: Outcome
    reply: str
    reason: str | None = None  # for "rejected": why, in one word
    request: ModelRequest | None = None
    entry: CatalogEntry | None = None  # the catalog entry the request needs

    @property
    def queued(self) -> bool:
        return self.outcome == "queued"


def rejected(reason: str, text: str, hint: str = "") -> Decision:
    """A verdict on the model or the id: why, and what its owner can do about it."""
    advice = ADVICE.get(reason, "")
    body = f"{text}\n\n{advice}" if advice else text
    if hint:
        body += f"\n\n{hint}"
    return Decision("rejected", body + "\n", reason=reason)


def unchecked(name: str, reason: Reason | None) -> Decision:
    """The reply when the check itself failed: not a verdict, nothing asked of the author."""
    if reason is None:
        why = "the hub failed while its config.json was read"
    else:
        why = UNCHECKED_WHY.get(reason, "the hub failed")
    text = f"The request for {name} could not be checked just now: {why}. {NOTHING_NEEDED}\n"
    return Decision("unchecked", text, reason=reason.value if reason else PENDING)
