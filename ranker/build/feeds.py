"""Atom feeds (RFC 4287): one per architecture, so a model author or a researcher can follow
new evaluations and new entrants to the top 10 in any feed reader.

Built with ElementTree, so every text and attribute is escaped by the XML writer, never by
hand. A browser opening a feed shows a readable page, not raw XML: the feed carries a CSS
style sheet (static/feed.css) and an XHTML subtitle saying what the feed is, how to subscribe
and, when it has no entries, why; each entry carries its summary as XHTML with a link. CSS, not
XSLT: Chromium 156 applies XSLT only over http, under a "being removed from this browser"
banner, and not at all from file://. Feed readers ignore the style sheet.

Entry ids are `tag:` URIs (RFC 4151) that do not depend on where the site is published; links
are absolute when the site's URL is known (`--site-url`), else relative to the feed.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ranker.build.render import pct
from ranker.timestamps import format_utc

if TYPE_CHECKING:
    from ranker.build.views import ArchitectureView

ATOM = "http://www.w3.org/2005/Atom"
XHTML = "http://www.w3.org/1999/xhtml"
STYLESHEET = "static/feed.css"  # in the site, beside the other static assets
TAG_AUTHORITY = "ranker.invalid,2026"  # tag: URIs need an authority; this one is never a host
MAX_ENTRIES = 50


@dataclass(frozen=True)
class FeedEntry:
    key: str  # unique within the feed, stable across builds: becomes the entry's tag: id
    title: str
    updated: str  # ISO 8601 time
    href: str  # the page it links to, relative to the site's root
    summary: str


def tag_uri(*parts: str) -> str:
    return f"tag:{TAG_AUTHORITY}:" + "/".join(parts)


def rfc3339(value: str) -> str:
    """An ISO 8601 time, date or month ("2023-04", as the 2023 data is dated) as RFC 3339 in
    UTC, which Atom requires."""
    text = value.replace("Z", "+00:00")
    return format_utc(dt.datetime.fromisoformat(text + "-01" if len(text) == 7 else text))


@dataclass(frozen=True)
class FeedAbout:
    """What the feed's subtitle tells a reader who opened it in a browser."""

    what: str  # what the feed announces
    page_label: str  # the link text of its HTML page
    empty: str  # why the feed has no entries, said only when it has none


def _xhtml(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{XHTML}}}{name}", attrs)
    node.text = text
    return node


def _subtitle(
    feed: ET.Element, about: FeedAbout, self_href: str, page_href: str, empty: bool
) -> None:
    """An XHTML subtitle (RFC 4287 3.1.1.3): one div, shown by readers and by browsers."""
    node = ET.SubElement(feed, f"{{{ATOM}}}subtitle", {"type": "xhtml"})
    div = _xhtml(node, "div")
    _xhtml(div, "p", f"This is an Atom feed: {about.what}", **{"class": "what"})
    how = _xhtml(div, "p", "To subscribe, copy the address of this page", **{"class": "how"})
    tail = " into a feed reader, which checks it for new entries; or read "
    if self_href.startswith(("http://", "https://")):  # a relative one would only confuse
        how.text = (how.text or "") + " ("
        _xhtml(how, "a", self_href, href=self_href).tail = ")" + tail
    else:
        how.text = (how.text or "") + tail
    _xhtml(how, "a", about.page_label, href=page_href).tail = "."
    if empty:
        _xhtml(div, "p", f"No entries yet. {about.empty}", **{"class": "empty"})


def _href(site_url: str | None, path: str) -> str:
    return f"{site_url.rstrip('/')}/{path}" if site_url else path


def atom_feed(
    *,
    key: str,
    title: str,
    feed_path: str,
    page_path: str,
    entries: Iterable[FeedEntry],
    updated: str,
    site_url: str | None = None,
    about: FeedAbout | None = None,
) -> bytes:
    """The feed document: the newest MAX_ENTRIES entries, newest first. `feed_path` and
    `page_path` are the feed's and its HTML page's paths in the site."""
    ET.register_namespace("", ATOM)
    ET.register_namespace("xhtml", XHTML)

    def sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{ATOM}}}{name}", attrs)
        node.text = text
        return node

    # a relative href resolves against the feed's own URL, so make paths relative to it
    depth = feed_path.count("/")
    up = "../" * depth

    def link(path: str) -> str:
        return _href(site_url, path) if site_url else up + path

    chosen = sorted(entries, key=lambda e: (rfc3339(e.updated), e.key), reverse=True)
    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", tag_uri(key))
    sub(feed, "title", title)
    about = about or FeedAbout(title, "its page", "Nothing has been announced yet.")
    _subtitle(feed, about, link(feed_path), link(page_path), empty=not chosen)
    sub(feed, "updated", rfc3339(updated))
    author = sub(feed, "author")
    sub(author, "name", "ranker")
    sub(feed, "link", rel="self", href=link(feed_path), type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=link(page_path), type="text/html")
    for entry in chosen[:MAX_ENTRIES]:
        node = sub(feed, "entry")
        sub(node, "id", tag_uri(key, entry.key))
        sub(node, "title", entry.title)
        sub(node, "updated", rfc3339(entry.updated))
        sub(node, "link", rel="alternate", href=link(entry.href), type="text/html")
        sub(node, "summary", entry.summary)
        content = _xhtml(sub(node, "content", type="xhtml"), "div")
        _xhtml(content, "p", entry.summary + " ")
        _xhtml(content[0], "a", "Open the page", href=link(entry.href))
    style = f'<?xml-stylesheet type="text/css" href="{up}{STYLESHEET}"?>\n'
    return (
        b"<?xml version='1.0' encoding='utf-8'?>\n"
        + style.encode()
        + ET.tostring(feed, encoding="utf-8", xml_declaration=False)
        + b"\n"
    )


def architecture_entries(
    evaluated: Iterable[tuple[str, str, float | None, int | None, str]],
    top_entrants: Iterable[tuple[str, str, int, str]],
) -> list[FeedEntry]:
    """Entries of an architecture's feed.

    `evaluated`: (model id, evaluated_at, MNLI probe accuracy or None, rank or None, page);
    `top_entrants`: (model id, update date, rank, page) for each model that entered the top
    10 at that update."""
    out = [
        FeedEntry(
            key=f"evaluated/{model_id}/{rfc3339(when)}",
            title=f"Evaluated: {model_id}",
            updated=when,
            href=page,
            summary=(
                f"MNLI linear probe {pct(accuracy)}%"
                + (f", rank #{rank}" if rank is not None else "")
                if accuracy is not None
                else "Evaluation failed; the model page says why."
            ),
        )
        for model_id, when, accuracy, rank, page in evaluated
    ]
    out += [
        FeedEntry(
            key=f"top10/{model_id}/{rfc3339(when)}",
            title=f"New in the top 10: {model_id} (#{rank})",
            updated=when,
            href=page,
            summary=f"{model_id} entered the top 10 at #{rank}.",
        )
        for model_id, when, rank, page in top_entrants
    ]
    return out


def architecture_feed(v: ArchitectureView, site_url: str | None, updated: str) -> bytes:
    """The architecture's feed: the newest evaluations and the models that entered the top 10
    at an update (their probe rank after each update, `v.history`); `updated`: the site's
    newest data's day, or "never"."""
    evaluated = [
        (r["model_id"], r["evaluated_at"], r.get("probe_accuracy"), r.get("probe_rank"), r["page"])
        for r in v.records
        if r.get("evaluated_at")
    ]
    pages = {r["model_id"]: r["page"] for r in v.records}
    entrants = []
    for model_id, ranks in v.history.items():
        before = None
        for day, rank in ranks:
            if rank <= 10 and (before is None or before > 10) and model_id in pages:
                entrants.append((model_id, day, rank, pages[model_id]))
            before = rank
    return atom_feed(
        key=v.arch.slug,
        title=f"ranker: {v.arch.title}: new evaluations and new top-10 models",
        feed_path=v.feed,
        page_path=v.page,
        entries=architecture_entries(evaluated, entrants),
        updated=updated if updated != "never" else "1970-01-01",
        site_url=site_url,
        about=FeedAbout(
            what=f"each model of {v.arch.title} that our MNLI probe evaluates, and each model "
            "that enters the top 10 after an update, newest first.",
            page_label=f"the {v.arch.title} ranking",
            empty=f"Our MNLI probe has not evaluated a model of {v.arch.title} yet: the ranks "
            "on the site are IBM's April 2023 data, which has no evaluation dates. Entries "
            "appear here as our probe evaluates models.",
        ),
    )
