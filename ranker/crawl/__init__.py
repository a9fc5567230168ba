"""The crawl room: find each architecture's models on the hub and keep the catalog current.

Every request goes through `ranker.hub` (the one door); `classify` and `catalog` are pure.
"""

from ranker.crawl.run import CrawlSummary, crawl

__all__ = ["CrawlSummary", "crawl"]
