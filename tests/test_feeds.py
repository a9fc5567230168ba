"""The Atom feeds parse, escape what they carry and link where they should."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from ranker.build.feeds import ATOM, MAX_ENTRIES, architecture_entries, atom_feed

NS = {"a": ATOM}


def _feed(site_url: str | None = None, n: int = 3) -> ET.Element:
    start = dt.datetime(2026, 11, 10, 3, tzinfo=dt.UTC)
    evaluated = [(f"o/m{i}", (start + dt.timedelta(hours=i)).isoformat(), 0.5 + i / 100, i + 1,
                  f"roberta-base/o/m{i}.html") for i in range(n)]  # fmt: skip
    evaluated.append(("evil/<script>", "2026-11-01T00:00:00Z", None, None, "x.html"))
    entrants = [("o/m2", "2026-11-10T04:30:00Z", 3, "roberta-base/o/m2.html")]
    text = atom_feed(
        key="roberta-base",
        title="RoBERTa & friends",
        feed_path="feeds/roberta-base.xml",
        page_path="roberta-base.html",
        entries=architecture_entries(evaluated, entrants),
        updated="2026-11-27",
        site_url=site_url,
    )
    assert text.startswith(b"<?xml")
    return ET.fromstring(text)


def test_feed_parses_newest_first_with_unique_ids() -> None:
    feed = _feed()
    assert feed.tag == f"{{{ATOM}}}feed"
    assert feed.findtext("a:title", namespaces=NS) == "RoBERTa & friends"
    assert feed.findtext("a:updated", namespaces=NS) == "2026-11-27T00:00:00Z"
    entries = feed.findall("a:entry", NS)
    updated = [e.findtext("a:updated", namespaces=NS) for e in entries]
    assert updated == sorted(updated, reverse=True) and len(entries) == 5
    ids = [e.findtext("a:id", namespaces=NS) for e in entries]
    assert len(set(ids)) == len(ids) and all(i.startswith("tag:") for i in ids)
    titles = [e.findtext("a:title", namespaces=NS) for e in entries]
    assert "New in the top 10: o/m2 (#3)" in titles
    assert "Evaluated: evil/<script>" in titles  # text, escaped by the writer, read back


def test_links_are_relative_to_the_feed_or_absolute_with_a_site_url() -> None:
    rel = _feed()
    first = rel.find("a:entry/a:link", NS).get("href")
    assert first.startswith("../") and first.endswith(".html")
    assert rel.find("a:link[@rel='self']", NS).get("href") == "../feeds/roberta-base.xml"
    absolute = _feed("https://example.org/ranker/")
    assert absolute.find("a:link[@rel='alternate']", NS).get("href") == (
        "https://example.org/ranker/roberta-base.html"
    )
    hrefs = [e.get("href") for e in absolute.findall("a:entry/a:link", NS)]
    assert all(h.startswith("https://example.org/ranker/") for h in hrefs)


def test_feed_keeps_only_the_newest_entries() -> None:
    feed = _feed(n=MAX_ENTRIES + 10)
    assert len(feed.findall("a:entry", NS)) == MAX_ENTRIES


def test_times_of_every_shape_the_store_holds_become_rfc3339() -> None:
    from ranker.build.feeds import rfc3339

    assert rfc3339("2023-04") == "2023-04-01T00:00:00Z"
    assert rfc3339("2026-11-27") == "2026-11-27T00:00:00Z"
    assert rfc3339("2026-11-27T03:04:05+02:00") == "2026-11-27T01:04:05Z"


XHTML = "{http://www.w3.org/1999/xhtml}"


def test_feed_is_styled_for_a_browser_and_says_what_it_is() -> None:
    """A browser shows the feed through a CSS style sheet (the PI, which readers ignore); the
    subtitle is one XHTML div that says what the feed is and how to subscribe."""
    text = atom_feed(key="k", title="T", feed_path="feeds/k.xml", page_path="arch/k.html",
                     entries=architecture_entries([("o/m", "2026-11-10", 0.5, 1, "arch/o/m.html")],
                                                  []), updated="2026-11-27")  # fmt: skip
    assert b'<?xml-stylesheet type="text/css" href="../static/feed.css"?>' in text.split(b"\n")[1]
    feed = ET.fromstring(text)
    (subtitle,) = feed.findall("a:subtitle", NS)
    assert subtitle.get("type") == "xhtml"
    (div,) = list(subtitle)
    assert div.tag == f"{XHTML}div"
    words = "".join(div.itertext())
    assert "This is an Atom feed" in words and "feed reader" in words
    assert "No entries yet" not in words
    assert [a.get("href") for a in div.iter(f"{XHTML}a")] == ["../arch/k.html"]
    (entry,) = feed.findall("a:entry", NS)
    content = entry.find("a:content", NS)
    assert content.get("type") == "xhtml" and content[0].tag == f"{XHTML}div"
    assert content[0].find(f".//{XHTML}a").get("href") == "../arch/o/m.html"


def test_empty_feed_says_why() -> None:
    from ranker.build.feeds import FeedAbout

    text = atom_feed(key="k", title="T", feed_path="feeds/k.xml", page_path="arch/k.html",
                     entries=[], updated="2026-11-27", site_url="https://example.org/r",
                     about=FeedAbout("what", "the page", "Nobody evaluated anything."))  # fmt: skip
    feed = ET.fromstring(text)
    assert feed.findall("a:entry", NS) == []
    div = feed.find("a:subtitle", NS)[0]
    empty = div.find(f"{XHTML}p[@class='empty']")
    assert empty is not None and empty.text == "No entries yet. Nobody evaluated anything."
    # with the site's URL known, the address to copy is shown and links to itself
    hrefs = [a.get("href") for a in div.iter(f"{XHTML}a")]
    assert hrefs == ["https://example.org/r/feeds/k.xml", "https://example.org/r/arch/k.html"]
