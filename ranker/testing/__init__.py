"""Test helpers shared by the tests and `ranker demo`: a loopback hub and tiny models.

Nothing under `ranker.testing` is imported by the crawl, evaluate or build stages.
"""

from ranker.testing.hub import FakeHub, Fault, HubRepo
from ranker.testing.quota import ANONYMOUS, FREE, PRO, Quota

__all__ = ["ANONYMOUS", "FREE", "PRO", "FakeHub", "Fault", "HubRepo", "Quota"]
