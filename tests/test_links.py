"""The site's links out (ranker.build.links) and the cite page's BibTeX: the repository only when
known and https, the request form prefilled as the issue template reads it, and BibTeX that
parses with and without a site URL."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from conftest import REPO
from ranker.build.links import (
    REQUEST_FIELD,
    REQUEST_TEMPLATE,
    check_repo_url,
    link_context,
    repo_url_from,
    request_url,
)
from ranker.build.render import environment
from ranker.errors import RankerError

REPO_URL = "https://github.com/someone/ranker"


def test_the_request_form_is_the_issue_template_and_its_model_field() -> None:
    template = REPO / ".github" / "ISSUE_TEMPLATE" / REQUEST_TEMPLATE
    form = yaml.safe_load(template.read_text())
    inputs = [b["id"] for b in form["body"] if b["type"] == "input"]
    assert inputs == [REQUEST_FIELD]


def test_request_url_is_prefilled_and_url_encoded() -> None:
    url = request_url(REPO_URL, "ibm/ColD-Fusion-itr13-seed2&x=1 é")
    parts = urlsplit(url or "")
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REPO_URL + "/issues/new"
    query = parse_qs(parts.query)
    assert query == {
        "template": [REQUEST_TEMPLATE],
        REQUEST_FIELD: ["ibm/ColD-Fusion-itr13-seed2&x=1 é"],
    }
    assert "%2F" in parts.query and " " not in parts.query
    assert request_url(None, "a/b") is None


@pytest.mark.parametrize(
    "bad",
    ["http://github.com/a/b", "javascript:alert(1)", "https://github.com/a/b\"><script>",
     "https://github.com/a/b}", "github.com/a/b", "https://", "https://x.org/a b"],
)  # fmt: skip
def test_a_repository_url_must_be_plain_https(bad: str) -> None:
    with pytest.raises(RankerError, match="--repo-url"):
        check_repo_url(bad)


def test_the_repository_comes_from_the_option_then_the_environment() -> None:
    assert check_repo_url(REPO_URL + "/") == REPO_URL
    actions = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r"}
    assert repo_url_from(actions) == "https://github.com/o/r"
    assert repo_url_from({**actions, "RANKER_REPO_URL": REPO_URL}) == REPO_URL
    assert repo_url_from({"GITHUB_REPOSITORY": "o/r"}) is None
    assert repo_url_from({}) is None


def bibtex_entries(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """(type, key, fields) of each `@type{key, name = {value}, ...}` entry; AssertionError
    where the text is not BibTeX of that shape (unbalanced braces, a field without a value)."""
    entries, i = [], 0
    text = text.strip()
    while i < len(text):
        head = re.compile(r"@(\w+)\{([\w:-]+),\s*").match(text, i)
        assert head, f"no entry at {text[i : i + 30]!r}"
        kind, key, i, fields = head.group(1), head.group(2), head.end(), {}
        while i < len(text) and text[i] != "}":
            field = re.compile(r"(\w+)\s*=\s*\{").match(text, i)
            assert field, f"no field at {text[i : i + 30]!r}"
            depth, j = 1, field.end()
            while depth:
                assert j < len(text), "unbalanced braces"
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            fields[field.group(1).lower()] = text[field.end() : j - 1]
            i = re.compile(r"\s*,?\s*").match(text, j).end()  # type: ignore[union-attr]
        assert i < len(text), "an entry without its closing brace"
        entries.append((kind, key, fields))
        i = re.compile(r"\}\s*").match(text, i).end()  # type: ignore[union-attr]
    return entries


def _cite(site_url: str | None, repo_url: str | None = None) -> str:
    page = environment().get_template("cite.html").render(
        root="", path="cite.html", architectures=[], version="9.9", last_updated="2023-04",
        built_at="2026-12-02 03:00 UTC", site_url=site_url, site_counts={"ibm_rows": 2696}, **link_context(repo_url),
    )  # fmt: skip
    return page


def _bibtex(page: str) -> list[tuple[str, str, dict[str, str]]]:
    blocks = re.findall(r'<code id="bib-[a-z]+">(.*?)</code>', page, re.S)
    assert len(blocks) == 2
    return [e for b in blocks for e in bibtex_entries(unescape(b))]


def test_the_bibtex_parses_with_the_site_url() -> None:
    (paper, site) = _bibtex(_cite("https://someone.github.io/ranker/"))
    assert paper[:2] == ("inproceedings", "choshen2023where")
    assert paper[2]["url"] == "https://arxiv.org/abs/2211.00107" and paper[2]["year"] == "2023"
    assert site[:2] == ("misc", "ranker")
    assert site[2]["howpublished"] == r"\url{https://someone.github.io/ranker/}"
    assert site[2]["url"] == "https://someone.github.io/ranker/"
    assert "2023-04" in site[2]["note"] and site[2]["year"] == "2023"


def test_the_bibtex_has_no_placeholder_without_a_site_url() -> None:
    page = _cite(None)
    (_, site) = _bibtex(page)
    assert "(this site)" not in page and "url" not in site[2] and "howpublished" not in site[2]
    assert "urldate" not in site[2] and "2023-04" in site[2]["note"]


def test_the_parser_refuses_broken_bibtex() -> None:
    for broken in [
        "@misc{k,\n  title = {a {b}\n}",
        "@misc{k,\n  title = a\n}",
        "@misc{k title={a}}",
    ]:
        with pytest.raises(AssertionError):
            bibtex_entries(broken)


def test_links_out_only_where_the_repository_is_known() -> None:
    with_repo, without = _cite(None, REPO_URL), _cite(None)
    hrefs = set(re.findall(r'href="([^"]+)"', unescape(with_repo)))
    assert {REPO_URL, request_url(REPO_URL), "https://arxiv.org/abs/2211.00107",
            "https://ibm.github.io/model-recycling/"} <= hrefs  # fmt: skip
    assert "github.com" not in without and "issues/new" not in without
    assert "ask for an evaluation" not in without  # no link that leads nowhere


def test_every_template_passes_the_repository_only_through_link_context() -> None:
    """No page names a repository of its own: a fork's site links the fork."""
    for template in (REPO / "ranker" / "templates").glob("*.html"):
        assert "github.com" not in template.read_text(), template.name


def test_the_scripts_prefix_completes_the_request_form() -> None:
    assert link_context(None)["repo_url"] is None and link_context(None)["request_prefix"] is None
    prefix = link_context(REPO_URL)["request_prefix"]
    assert prefix == request_url(REPO_URL) + f"&{REQUEST_FIELD}="
