"""Two small files of the store: the MNLI pin (`probe.json`) and where the crawl resumes.

The pin is the probe data's hub commit, set once, that every run reads; the crawl state is a
hint only (`{"cursors": {listing tag: next page URL}}`), so anything odd in it is ignored.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

from ranker import jsonlimits
from ranker.errors import StoreError
from ranker.repofiles import is_sha
from ranker.store.base import StoreBase
from ranker.store.files import atomic_write_text

PROBE_PIN = "probe.json"  # the probe data's pinned hub commit (MNLI), set once
CRAWL_STATE = "crawl_state.json"  # where the crawl resumes: a hint, never a record


class CrawlStateWarning(UserWarning):
    """`crawl_state.json` is malformed: ignored (it is only a resumption hint)."""


_CRAWL_STATE_MAX = 1_000_000  # bytes; a few cursors take a few hundred
_CRAWL_STATE_URL = re.compile(r"https?://[\x21-\x7e]{1,2000}")


def _crawl_state_problem(data: object) -> str | None:
    """What is wrong with a crawl state (None: it is fine): `{"cursors": {tag: URL}}`."""
    if not isinstance(data, dict) or set(data) - {"cursors"}:
        return 'expected a JSON object with "cursors" only'
    cursors = data.get("cursors", {})
    if not isinstance(cursors, dict):
        return '"cursors": expected an object'
    for tag, url in cursors.items():
        if not (isinstance(tag, str) and 0 < len(tag) <= 300 and tag.isprintable()):
            return f'"cursors": a listing name that is not plain text: {tag!r:.60}'
        if not (isinstance(url, str) and _CRAWL_STATE_URL.fullmatch(url)):
            return f'"cursors": {tag!r:.60}: expected an http(s) URL, got {url!r:.60}'
    return None


class StateStore(StoreBase):
    """The MNLI pin and the crawl state part of `ranker.store.Store`."""

    PROBE_PIN = PROBE_PIN

    def mnli_revision(self) -> str | None:
        """The MNLI commit every run reads (None until the first run pins it)."""
        path = self.path(PROBE_PIN)
        text = self._read_text(PROBE_PIN, required=False)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
        sha = data.get("mnli_revision") if isinstance(data, dict) else None
        if not is_sha(sha):
            raise StoreError(path, "expected a 40-hex commit sha", field="mnli_revision")
        return sha

    def write_mnli_revision(self, sha: str) -> None:
        if not is_sha(sha):
            raise StoreError(self.path(PROBE_PIN), f"not a commit sha: {sha!r}")
        text = json.dumps({"mnli_revision": sha}, indent=2, sort_keys=True) + "\n"
        with self.lock():
            atomic_write_text(self.path(PROBE_PIN), text)

    # -- where the crawl resumes (a hint: anything odd in it is ignored, never fatal) -----------

    CRAWL_STATE = CRAWL_STATE

    def crawl_state(self) -> dict[str, Any]:
        """The crawl's resumption state (`{"cursors": {listing tag: next page URL}}`), or {}.

        Only a hint for the next crawl (a listing that failed midway resumes at its failed
        page): a missing file is {}, and a malformed one is ignored with a `CrawlStateWarning`
        rather than stopping every later crawl."""
        text = self._read_text(CRAWL_STATE, required=False)
        if text is None:
            return {}
        try:
            data = jsonlimits.loads(text, what=CRAWL_STATE, max_bytes=_CRAWL_STATE_MAX)
            problem = _crawl_state_problem(data)
        except jsonlimits.JsonRefused as exc:
            problem = str(exc)
        if problem is not None:
            warnings.warn(
                f"{self.path(CRAWL_STATE)}: ignored ({problem}); the crawl starts its listings "
                "from the first page",
                CrawlStateWarning,
                stacklevel=2,
            )
            return {}
        return data

    def write_crawl_state(self, state: dict[str, Any]) -> None:
        """Replace the crawl's resumption state (checked as `crawl_state` reads it)."""
        problem = _crawl_state_problem(state)
        if problem is not None:
            raise StoreError(self.path(CRAWL_STATE), f"refused: {problem}")
        text = json.dumps(state, indent=1, sort_keys=True, ensure_ascii=True) + "\n"
        if len(text) > _CRAWL_STATE_MAX:
            raise StoreError(self.path(CRAWL_STATE), f"refused: over {_CRAWL_STATE_MAX} bytes")
        with self.lock():
            atomic_write_text(self.path(CRAWL_STATE), text)
