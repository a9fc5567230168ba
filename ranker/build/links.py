"""The site's links out: its source repository, the evaluation-request form, the paper and
IBM's 2023 site.

The repository is known only where the build is told it (`ranker build --repo-url`, or the
variables GitHub Actions sets); a local build leaves the repository and form links out and the
pages say in words where requests go, so no page carries a dead or placeholder link.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ranker.errors import RankerError

PAPER_URL = "https://arxiv.org/abs/2211.00107"
PAPER = 'Choshen et al., "Where to start? Analyzing the potential value of intermediate models", EMNLP 2023'  # noqa: E501
IBM_URL = "https://ibm.github.io/model-recycling/"
# .github/ISSUE_TEMPLATE/request-evaluation.yml and its "Model id" field's id
REQUEST_TEMPLATE = "request-evaluation.yml"
REQUEST_FIELD = "model"
# https, a host, an optional path: nothing that could close an attribute or a BibTeX brace
_REPO_URL = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/-]*)?")


def check_repo_url(url: str) -> str:
    """The repository's address without a trailing slash; refused unless a plain https URL."""
    if not _REPO_URL.fullmatch(url):
        raise RankerError(
            f"--repo-url: expected an https address (https://host/owner/name), got {url!r}"
        )
    return url.rstrip("/")


def repo_url_from(env: Mapping[str, str]) -> str | None:
    """`$RANKER_REPO_URL`, else `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY` when both are set."""
    if env.get("RANKER_REPO_URL"):
        return env["RANKER_REPO_URL"]
    server, repo = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY")
    return f"{server.rstrip('/')}/{repo}" if server and repo else None


def request_url(repo_url: str | None, model_id: str | None = None) -> str | None:
    """The request form, prefilled with `model_id` when given; none without a repository."""
    if not repo_url:
        return None
    url = f"{repo_url}/issues/new?template={REQUEST_TEMPLATE}"
    return f"{url}&{REQUEST_FIELD}={quote(model_id, safe='')}" if model_id else url


def link_context(repo_url: str | None) -> dict[str, Any]:
    """What every page is given to link out (`request_for(model_id)`: the prefilled form)."""
    repo = check_repo_url(repo_url) if repo_url else None
    return {
        "repo_url": repo,
        "request_form": request_url(repo),
        "request_for": lambda model_id: request_url(repo, model_id),
        # the form's address up to the model id, for the pages' scripts (encodeURIComponent)
        "request_prefix": f"{request_url(repo)}&{REQUEST_FIELD}=" if repo else None,
        "paper_url": PAPER_URL,
        "paper": PAPER,
        "ibm_url": IBM_URL,
    }
