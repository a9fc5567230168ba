"""The crawl room: find each architecture's models on the hub and keep the catalog current.

Every request goes through `ranker.hub` (the one door); `classify` and `catalog` are pure;
`listings` reads listings page by page (and resumes them), `classifier` spends config reads.
The public API (what other rooms and the CLI may use) is what this package exports: `crawl`,
its summary and stop, `classify_listing` (one model judged by the crawl's rules: a `Verdict`)
and `with_entry` (one entry folded into the catalog).
"""

from ranker.crawl.catalog import with_entry
from ranker.crawl.run import DEFAULT_MAX_CONFIGS, crawl
from ranker.crawl.single import classify_listing
from ranker.crawl.summary import CrawlStopped, CrawlSummary
from ranker.crawl.verdict import Verdict

__all__ = [
    "DEFAULT_MAX_CONFIGS",
    "CrawlStopped",
    "CrawlSummary",
    "Verdict",
    "classify_listing",
    "crawl",
    "with_entry",
]
