"""The crawl room: find each architecture's models on the hub and keep the catalog current.

Every request goes through `ranker.hub` (the one door); `classify` and `catalog` are pure;
`listings` reads listings page by page (and resumes them), `classifier` spends config reads.
"""

from ranker.crawl.run import crawl
from ranker.crawl.summary import CrawlStopped, CrawlSummary

__all__ = ["CrawlStopped", "CrawlSummary", "crawl"]
