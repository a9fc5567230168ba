"""One model classified outside a crawl, by the crawl's own rules: `classify_listing`.

`ranker request` asks this of a model named in an issue, so that a request is judged exactly
as the nightly crawl would judge the model (one rule, in one place). At most one config.json
read; nothing is written.
"""

from __future__ import annotations

from ranker.crawl.candidates import candidate_of
from ranker.crawl.classifier import Classifier
from ranker.crawl.verdict import Verdict
from ranker.hub import Hub, Listing
from ranker.protocol import DEFAULT_MAX_PARAMS
from ranker.store import Store


def classify_listing(
    store: Store, hub: Hub, listing: Listing, *, max_params: int = DEFAULT_MAX_PARAMS
) -> Verdict:
    """What the crawl makes of the model `listing` describes, against the store's tracked
    architectures and its catalog (a model classified at this sha costs no request).

    Raises the door's `HubFailure` or `RunFailure` when the check itself could not be made
    (a config read refused for the rate limit, a bad token...): never a verdict on the model.
    """
    archs = store.architectures()
    candidate = candidate_of(listing, archs, store)
    previous = {e.model_id: e for e in store.catalog()}
    classifier = Classifier(hub, archs, previous, max_params, max_configs=1)
    return classifier.verdict(candidate)
