"""What a crawl found, what it cost and where it stopped: `CrawlSummary.text()` is what
`ranker crawl` prints, and `CrawlStopped` is how a run-level stop leaves the crawl."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ranker.errors import Reason, RunFailure


@dataclass
class CrawlSummary:
    """What a crawl found and what it cost; `text()` is what `ranker crawl` prints."""

    listed: int = 0  # distinct models catalogued this run
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # old id -> new id
    ok: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    unclassified: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # model_type rows ruled out, not kept
    rejected: dict[str, str] = field(default_factory=dict)  # id (or problem) -> what is wrong
    repaired: dict[str, str] = field(default_factory=dict)  # id -> values dropped, row listed
    failed: dict[str, str] = field(default_factory=dict)  # architecture -> a listing's error
    per_arch: dict[str, Counter[str]] = field(default_factory=dict)  # arch -> status counts
    config_requests: int = 0
    config_timeouts: int = 0  # config reads that got no answer (timeout, dropped connection)
    requests: int = 0
    listings: int = 0
    pages: int = 0  # listing pages read
    resumed: list[str] = field(default_factory=list)  # listings resumed from a saved cursor
    saved: list[str] = field(default_factory=list)  # listings that resume next run, by tag
    unreachable: bool = False  # the hub failed transiently on the first listing
    out_of_time: bool = False  # the time budget ended the crawl's requests early
    stopped: str | None = None  # a run-level stop (quota, hub not answering): why

    def text(self) -> str:
        lines = [
            f"listed {self.listed} models ({self.ok} ok, {sum(self.excluded.values())} excluded,"
            f" {self.unclassified} unclassified) in {self.listings} listings,"
            f" {self.config_requests} configs read, {self.requests} HTTP requests",
            f"new {len(self.new)}, changed {len(self.changed)}, unchanged {len(self.unchanged)},"
            f" removed {len(self.removed)}, renamed {len(self.renamed)}",
        ]
        if self.excluded:
            parts = ", ".join(f"{r} {n}" for r, n in sorted(self.excluded.items()))
            lines.append(f"excluded: {parts}")
        for arch, counts in sorted(self.per_arch.items()):
            lines.append(
                f"  {arch}: "
                + ", ".join(f"{counts[s]} {s}" for s in ("ok", "excluded", "unclassified"))
            )
        if self.rejected:
            shown = "; ".join(f"{k}: {v}" for k, v in sorted(self.rejected.items())[:5])
            more = f" (+{len(self.rejected) - 5} more)" if len(self.rejected) > 5 else ""
            lines.append(f"rejected {len(self.rejected)} malformed listing rows: {shown}{more}")
        if self.repaired:
            shown = "; ".join(f"{k}: {v}" for k, v in sorted(self.repaired.items())[:5])
            more = f" (+{len(self.repaired) - 5} more)" if len(self.repaired) > 5 else ""
            lines.append(
                f"listed {len(self.repaired)} rows without values they had malformed: {shown}{more}"
            )
        for old, new in sorted(self.renamed.items()):
            lines.append(f"renamed {old} -> {new}")
        if self.resumed:
            lines.append(f"resumed {len(self.resumed)} listings where the last run stopped")
        if self.saved:
            lines.append(
                f"{len(self.saved)} listings stopped midway; the next run resumes them at the "
                "page where they stopped"
            )
        if self.out_of_time:
            lines.append(
                "stopped early: the time budget was spent; what was not read yet waits for the "
                "next run"
            )
        if self.unreachable:
            lines.append("FAILED: the hub could not be reached; the catalog was left as it was")
        for arch, error in sorted(self.failed.items()):
            lines.append(f"FAILED {arch}: {error} (kept what its listings gave before that)")
        if self.stopped:
            lines.append(f"STOPPED: {self.stopped} (kept what was learned before that)")
        return "\n".join(lines)


class CrawlStopped(RunFailure):
    """A run-level fault stopped the crawl after it stored what it had learned (the catalog,
    the listings' cursors): raised so that `ranker crawl` and `ranker update` stop with one line
    and exit non-zero, with the crawl's summary attached for whoever wants to print it."""

    def __init__(self, cause: RunFailure, summary: CrawlSummary) -> None:
        left = f"{summary.unclassified} left unclassified for the next run"
        super().__init__(
            f"{cause}; the crawl stopped and kept what it had learned ({summary.ok} ok, "
            f"{sum(summary.excluded.values())} excluded, {left})",
            Reason(cause.reason),
        )
        self.summary = summary
