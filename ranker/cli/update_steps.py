"""The steps `ranker update` hands to `ranker.pipeline.update`: crawl, probe data, options,
and the summary it prints; one object holds the run's store, door and cache."""

from __future__ import annotations

import argparse

from ranker.cli.cache import cache_dir
from ranker.cli.mnli import pinned_mnli_revision
from ranker.cli.options import repo_url, site_url
from ranker.errors import RankerError


class UpdateRun:
    """One `ranker update`: its arguments, store, hub door and cache folder."""

    def __init__(self, args: argparse.Namespace, *, shard, executor) -> None:
        from ranker.cli.update import quota_share
        from ranker.hub import Hub
        from ranker.store import Store

        self.args = args
        self.shard = shard
        self.executor = executor
        self.results_out = getattr(args, "results_out", None)
        self.matrix = self.results_out is not None  # the store is only read: no crawl, no build
        self.store = Store(args.data)
        self.store.check()
        self.cache = cache_dir(args.cache_dir)
        # The run's one door: crawl, models and MNLI alike. `--no-token`: anonymous (no
        # Authorization header), for jobs that load untrusted weights; public models need none.
        token = False if getattr(args, "no_token", False) else None
        share = quota_share(token, shard)
        self.hub = Hub(endpoint=args.endpoint, token=token, quota_share=share)

    def update(self, budget: float | None):
        """`ranker.pipeline.update` with this run's steps."""
        from ranker.evaluate.run import Options
        from ranker.pipeline import update

        args = self.args
        return update(
            self.store,
            crawl_step=None if args.no_crawl or self.matrix else self.crawl,
            probe_data=self.probe_data,
            options=Options(
                device=args.device,
                cache_dir=self.cache,
                max_params=args.max_params,
                progress=not args.no_progress,
                hub_cache=self.cache / "hub",
                hub=self.hub,
            ),
            max_models=args.max_models,
            time_budget=budget,
            force=args.force,
            architectures=args.arch,
            progress=not args.no_progress,
            executor=self.executor,
            shard=self.shard,
            results_out=self.results_out,
        )

    def crawl(self):
        from ranker.crawl import CrawlStopped, crawl

        args = self.args
        try:
            summary = crawl(
                self.store,
                self.hub,
                architectures=args.arch,
                max_params=args.max_params,
                max_configs=args.max_configs,
            )
        except CrawlStopped as exc:  # what it learned is written: say what, then stop
            print(exc.summary.text(), flush=True)
            raise
        print(summary.text(), flush=True)
        return summary

    def probe_data(self):
        from ranker.evaluate.data import load_probe_data

        args = self.args
        return load_probe_data(
            args.probe_data,
            args.train_size,
            args.eval_size,
            args.seed,
            eval_file=args.eval_data,
            cache_dir=self.cache / "data",
            hub=self.hub,
            mnli_revision=self._mnli_revision(),
        )

    def _mnli_revision(self) -> str | None:
        """The pin (None with --probe-data); in matrix mode read, never written."""
        store = self.store
        if self.args.probe_data is not None:
            return None
        if not self.matrix:
            return pinned_mnli_revision(store, self.hub)
        revision = store.mnli_revision()
        if revision is None:
            raise RankerError(
                f"--results-out: the store {store.root} has no MNLI pin ({store.PROBE_PIN}) "
                "and this mode writes nothing there: run `ranker update` once without "
                "--results-out (or give --probe-data)"
            )
        return revision

    def report(self, summary) -> str:
        """The run's summary, the door's counts, the executor's report, the shard and build."""
        text = summary.text() + "\n" + self.hub.counts_text()
        report = getattr(self.executor, "report", None)
        if report is not None and report():
            text += "\n" + report()
        if self.shard is not None or self.matrix:
            where = f"results in {self.results_out if self.matrix else self.store.root}"
            share = f"shard {self.shard[0]}/{self.shard[1]}" if self.shard else "all models"
            text += f"\n{share}: {where}"
        if not self.args.no_build and not self.matrix:
            from ranker.build import build_site

            url = site_url(self.args.site_url)
            repo = repo_url(None)  # $RANKER_REPO_URL or the Actions repository
            site = build_site(self.store.root, self.args.out, site_url=url, repo_url=repo)
            text += f"\nbuilt {site.pages} pages for {site.models} models in {site.out}"
        return text
