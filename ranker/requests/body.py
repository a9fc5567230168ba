"""The issue's body (untrusted text): read with limits, and the model id its form holds.

The body is read with limits (`read_body`, then `check_body` refuses a longer text): at most
`MAX_BODY` characters (GitHub's own limit for an issue body), bytes that are not UTF-8
replaced; only the id's line is used (`model_id_from_body`), and only after
`ranker.records.is_valid_repo_id` says it is an id.
"""

from __future__ import annotations

import re
from pathlib import Path

from ranker.store import read_text_file

FORM_LABEL = "Model id"  # the issue form's input label: GitHub renders it as "### Model id"
MAX_BODY = 65_536  # characters of an issue body (GitHub's limit); the form's body is a few lines
MAX_BODY_BYTES = 4 * MAX_BODY  # what is read of a body file: UTF-8 takes at most 4 bytes a char
_HF_URL = re.compile(r"^https?://(?:www\.)?huggingface\.co/(?P<id>[^?#\s]+?)/?(?:[?#].*)?$")


def read_body(path: Path) -> str:
    """An issue body from a file, decoded with limits: at most `MAX_BODY_BYTES` bytes are read
    (a longer file gives a text longer than `MAX_BODY`, which `check_body` refuses), and bytes
    that are not UTF-8 become U+FFFD (no id holds one, so such an id is refused as invalid)."""
    return read_text_file(path, max_bytes=MAX_BODY_BYTES, lossy=True)


def model_id_from_body(body: str) -> str | None:
    """The text the issue form holds under "### Model id" (or the whole body when it has no
    form heading): its first non-empty line, a huggingface.co address reduced to its id.
    Not validated: see `is_valid_repo_id`. None when there is nothing."""
    lines = body[:MAX_BODY].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = 0
    for i, line in enumerate(lines):
        if line.strip().lstrip("#").strip().lower() == FORM_LABEL.lower() and line.startswith("#"):
            start = i + 1
            break
    for line in lines[start:]:
        text = line.strip()
        if text.startswith("#"):
            break  # the next field: this one was left empty
        if not text or text == "_No response_":
            continue
        text = text.strip("`").strip()
        match = _HF_URL.match(text)
        if match:
            text = match.group("id")
        return text
    return None
