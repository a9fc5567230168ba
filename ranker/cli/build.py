"""`ranker build`: render the static site from the store (never imports torch)."""

from __future__ import annotations

import argparse

from ranker.cli.options import Adder, add_out, add_repo_url, add_site_url, repo_url, site_url


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add("build", help="render the static site from the store")
    add_out(p, "output folder (default: site/)")
    add_site_url(
        p, "public URL the site is served from, for badge snippets (default: $RANKER_SITE_URL)"
    )
    add_repo_url(p)
    p.set_defaults(func=build_command)


def build_command(args: argparse.Namespace) -> int:
    from ranker.build import build_site
    from ranker.requests import check_site_url

    url, repo = site_url(args.site_url), repo_url(args.repo_url)
    if url:  # it goes into links and the BibTeX entry: a plain http(s) address only
        check_site_url(url)
    report = build_site(args.data, args.out, site_url=url, repo_url=repo)
    print(f"built {report.pages} pages for {report.models} models in {report.out}")
    return 0
