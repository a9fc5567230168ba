"""Render the site from the store, one file at a time (ranker.build.SiteWriter writes them).

The build gathers, then writes: one read of the store makes the site context
(ranker.build.context); then, per architecture, its view (ranker.build.views: table, ranks,
rows) is made, its downloads, pages, chunks, feed and badges are written, and the view is
released but for a small summary; last come the pages about the whole site and the static
files. Every step is linear in the models of the architecture, except the paired tests of the
ranks (ranker.build.ranks), which compare results two by two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from ranker.build.context import StoreReader, gather
from ranker.build.downloads import all_downloads
from ranker.build.links import link_context
from ranker.build.missing import listed_rows
from ranker.build.pages import Pages, write_architecture, write_site_pages, write_static
from ranker.build.views import SUMMARY_COLUMNS, ArchitectureView, architecture_view, nli_candidate

if TYPE_CHECKING:
    from ranker.build import SiteWriter


def render_site(
    store: StoreReader, site_url: str | None, writer: SiteWriter, repo_url: str | None = None
) -> tuple[int, int]:
    """Write every file of the site through `writer`; return (HTML pages, models listed);
    `repo_url`: the source repository the pages link (ranker.build.links)."""
    context = gather(store, datetime.now(UTC))
    page = Pages(writer, {**context.common, **link_context(repo_url)})
    views: list[ArchitectureView] = []
    summaries: list[pd.DataFrame] = []
    nli_candidates: list[dict[str, Any] | None] = []
    with all_downloads(writer, context.last_updated) as downloads:
        for arch in context.archs:
            view = architecture_view(context, arch)
            downloads.add(view)
            write_architecture(page, context, view, site_url)
            nli_candidates.append(nli_candidate(view))
            context.missing.extend(listed_rows(view))  # "not here?" finds listed models too
            summaries.append(view.summary())
            view.release()
            views.append(view)
    everything = (
        pd.concat(summaries, ignore_index=True)
        if summaries
        else pd.DataFrame(columns=[*SUMMARY_COLUMNS, "overview_gain"])
    )
    write_site_pages(page, context, views, everything, nli_candidates, site_url)
    write_static(writer)
    return page.count, len(everything)
