"""`ranker build`: render the static site from the store (never imports torch)."""

from __future__ import annotations

import argparse

from ranker.cli.options import Adder, add_out, add_site_url, site_url


def register(add: Adder, common: argparse.ArgumentParser) -> None:
    p = add("build", help="render the static site from the store")
    add_out(p, "output folder (default: site/)")
    add_site_url(
        p, "public URL the site is served from, for badge snippets (default: $RANKER_SITE_URL)"
    )
    p.set_defaults(func=build_command)


def build_command(args: argparse.Namespace) -> int:
    from ranker.build import build_site

    report = build_site(args.data, args.out, site_url=site_url(args.site_url))
    print(f"built {report.pages} pages for {report.models} models in {report.out}")
    return 0
