"""Site build speed on the full legacy data, against a naive baseline in the same process.

Baseline: pandas' own `DataFrame.to_html` of the same per-architecture tables (no templates, no
downloads), i.e. the least a site build could do. Prints wall times, the ratio, and page sizes.

    python bench/bench_build.py [--data data] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ranker.build import build_site
from ranker.build.tables import architecture_table
from ranker.store import Store


def _naive(data: Path, out: Path) -> None:
    store = Store(data)
    legacy, results = store.legacy_models(), store.results()
    for arch in store.architectures():
        table = architecture_table(arch, legacy, results)
        (out / f"{arch.slug}.html").write_text(table.to_html(index=False))


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
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "naive").mkdir()
        naive = _time(lambda: _naive(args.data, tmp_path / "naive"), args.repeat)
        full = _time(lambda: build_site(args.data, tmp_path / "site"), args.repeat)
        report = build_site(args.data, tmp_path / "site")
        print(f"models listed: {report.models}, files: {report.files}, bytes: {report.bytes:,}")
        print(f"naive to_html baseline: {naive:.3f} s (median of {args.repeat})")
        print(f"ranker build:           {full:.3f} s (median of {args.repeat})")
        print(f"ratio build / baseline: {full / naive:.2f}x")
        print("page sizes (bytes):")
        for page in sorted((tmp_path / "site").rglob("*.html")):
            print(f"  {page.relative_to(tmp_path / 'site')}: {page.stat().st_size:,}")


if __name__ == "__main__":
    main()
