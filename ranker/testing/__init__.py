"""Test helpers shared by the tests and `ranker demo`: a loopback hub and tiny models.

Nothing under `ranker.testing` is imported by the crawl, evaluate or build stages.
"""

from ranker.testing.hub import FakeHub, Fault, HubRepo

__all__ = ["FakeHub", "Fault", "HubRepo"]
