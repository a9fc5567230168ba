"""Site build speed, against a naive baseline in the same process.

Baseline: pandas' own `DataFrame.to_html` of the same per-architecture tables (no templates,
charts, model pages or downloads): the least a site build could do; the tables include the
ranks (paired bootstrap), which are also timed alone. With `--synthetic N`, N synthetic
evaluated models of the current protocol, with per-pair bits (spread over the architectures),
join the store's data first.

    python bench/bench_build.py [--data data] [--synthetic 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ranker.build import build_site
from ranker.build.tables import architecture_table, legacy_sigma, probe_comparison
from ranker.store import Store
from ranker.testing.synthetic import synthetic_models


def _naive(data: Path, out: Path) -> None:
    store = Store(data)
    legacy, results, catalog = store.legacy_models(), store.results(), store.catalog()
    baselines = store.legacy_baselines() if store.has_legacy() else []
    for arch in store.architectures():
        sigma = legacy_sigma(arch, baselines)
        table = architecture_table(arch, legacy, results, catalog, sigma=sigma)
        (out / f"{arch.slug}.html").write_text(table.to_html(index=False))


def _ranks(data: Path) -> dict[str, tuple[int, float]]:
    """Per architecture: results compared and seconds for the paired tests between them."""
    store = Store(data)
    results = store.results()
    out = {}
    for arch in store.architectures():
        start = time.perf_counter()
        comparison = probe_comparison(arch, results)
        out[arch.slug] = (len(comparison.keys), time.perf_counter() - start)
    return out


def _time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--synthetic", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "data"
        shutil.copytree(args.data, data)
        store = Store(data)
        if args.synthetic:
            archs = store.architectures()
            results, catalog = list(store.results()), list(store.catalog())
            for i, arch in enumerate(archs):
                n = args.synthetic // len(archs) + (i < args.synthetic % len(archs))
                r, c = synthetic_models(arch.id, n)
                results += r
                catalog += c
            store.write_results(results)
            store.write_catalog(catalog)
        (tmp_path / "naive").mkdir()
        naive = _time(lambda: _naive(data, tmp_path / "naive"), args.repeat)
        full = _time(lambda: build_site(data, tmp_path / "site"), args.repeat)
        report = build_site(data, tmp_path / "site")
        print(f"models listed: {report.models}, pages: {report.pages}, files: {report.files}, "
              f"bytes: {report.bytes:,}")  # fmt: skip
        print(f"naive to_html baseline: {naive:.2f} s (median of {args.repeat})")
        print(f"ranker build:           {full:.2f} s (median of {args.repeat})")
        print(f"ratio build / baseline: {full / naive:.1f}x")
        print("paired-bootstrap ranks alone (results compared, seconds):")
        for slug, (n, seconds) in _ranks(data).items():
            print(f"  {slug}: {n:,} in {seconds:.2f} s")
        print("architecture pages (bytes, gzip bytes):")
        for page in sorted((tmp_path / "site" / "arch").glob("*.html")):
            raw = page.read_bytes()
            print(f"  {page.name}: {len(raw):,} ({len(gzip.compress(raw)):,})")


if __name__ == "__main__":
    main()
