"""The crawl room: find each architecture's models on the hub and keep the catalog current.

`hub` is the only module that talks to huggingface_hub; `classify` and `catalog` are pure.
"""

from ranker.crawl.run import CrawlSummary, crawl

__all__ = ["CrawlSummary", "crawl"]
