"""What a reply may say, and how: replies are plain Markdown with ids only in code spans (a
valid id holds no backtick), and nothing copied from the issue or from the hub's free text."""

from __future__ import annotations

import re

from ranker.errors import Reason

_PLAIN = re.compile(r"[A-Za-z0-9_./-]{1,200}")  # what may be quoted in a reply as it is
PLAIN_DETAIL = re.compile(r"[A-Za-z0-9_., -]{1,300}")  # e.g. "model_type bert, hidden 768, ..."

ID_RULE = (
    "a Hugging Face model id is `owner/name` as in the model's address "
    "(`https://huggingface.co/owner/name`): letters, digits, `-`, `_` and `.`"
)
NOTHING_NEEDED = (
    "This says nothing about the model, and nothing is needed from you: the failed check is "
    "reported to the maintainers of this ranking, who run it again."
)
# Why a check could not be made, by the door's typed reason (transient ones: the hub failed).
UNCHECKED_WHY: dict[Reason, str] = {
    Reason.BAD_TOKEN: "the hub refused the credentials this check runs with",
    Reason.FORBIDDEN: "the hub refused this check access",
    Reason.BAD_REQUEST: "the hub refused a request of this check",
    Reason.QUOTA: "this check used up its share of the hub's rate limit",
    Reason.HUB_DOWN: "the hub did not answer",
    Reason.INVALID: "the hub's answer about it did not pass our checks",
    Reason.RATE_LIMITED: "the hub's rate limit",
    Reason.TIMEOUT: "the hub did not answer in time",
    Reason.CONNECTION: "the hub could not be reached",
    Reason.SERVER_ERROR: "the hub answered with a server error",
    Reason.INTEGRITY: "a file arrived damaged",
}


def code_span(text: object) -> str:
    """`text` as a Markdown code span when it is plain (ids, reasons, shas); else a mention
    that something is not shown: hub values are untrusted and never quoted as they are."""
    if isinstance(text, str) and _PLAIN.fullmatch(text):
        return f"`{text}`"
    return "(a value not shown)"
