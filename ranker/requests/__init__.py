"""The requests room: ask for an evaluation through a GitHub issue, and answer it.

The flow (`.github/ISSUE_TEMPLATE/request-evaluation.yml`, `.github/workflows/request.yml`;
the command is `ranker request`, in `ranker.cli.request`):

1. `check` (`check.py`) reads the issue form's body (`body.py`: "### Model id" then the id,
   read with limits) and checks the id before anything else: an id that is not a valid hub
   repo id (`ranker.records.is_valid_repo_id`) is refused without a single hub request, and is
   never repeated in the reply. A valid id is looked up through the one door (`ranker.hub`)
   and judged by the crawl's own rules (`ranker.crawl.classify_listing`, a `Verdict`): one
   rule, in one place. No model file is downloaded, no code of the model is run.
2. An accepted model is queued (`queue.py`) with its catalog entry, so that the next nightly
   run evaluates it first. A rejected request (invalid id, no such public model, an
   architecture we do not track, an excluded model) is answered and not stored. Asking again
   is idempotent: the same (issue, model) is queued once.
3. The reply (`decision.py`, `words.py`) is plain Markdown: ids only in code spans, nothing
   copied from the issue or from the hub's free text. A check that could not be made (the
   run's token refused, the hub not answering or out of quota, an answer of the hub that
   failed our checks) is never a verdict on the model: it says so, asks nothing of the author,
   and the command exits `EXIT_UNCHECKED` (3), so the workflow run fails and is seen.
4. After a nightly run, `replies.py` writes the replies owed to queued requests whose model
   now has a settled result, with the absolute link to the model's page, and marks them
   replied; the workflow posts them after publishing the site.

This package imports base contracts, the door, the store and the crawl's public API only.
"""

from ranker.requests.body import FORM_LABEL, MAX_BODY_BYTES, model_id_from_body, read_body
from ranker.requests.check import check_body, check_request
from ranker.requests.decision import EXIT_UNCHECKED
from ranker.requests.queue import add_exported, export_decision
from ranker.requests.replies import check_site_url, due_replies, write_replies
from ranker.requests.words import ID_RULE

__all__ = [
    "EXIT_UNCHECKED",
    "FORM_LABEL",
    "ID_RULE",
    "MAX_BODY_BYTES",
    "add_exported",
    "check_body",
    "check_request",
    "check_site_url",
    "due_replies",
    "export_decision",
    "model_id_from_body",
    "read_body",
    "write_replies",
]
