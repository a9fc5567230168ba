"""Site build speed, memory and size, against a naive baseline in the same run.

Baseline: pandas' own `DataFrame.to_html` of the same per-architecture tables (no templates,
charts, model pages or downloads), in this process: the least a site build could do; the
tables include the ranks (paired bootstrap), which are also timed alone. The build itself runs
in a child process, so that its peak memory (ru_maxrss of the child) is its own. With
`--synthetic N`, N synthetic evaluated models of the current protocol, with per-pair bits
(spread over the architectures), join the store's data first. `--chromium` then opens the
largest architecture page from the home page in headless Chromium and times the click until
its table holds every row and sorts (as tests/test_site_browser.py does), and times each sort
of that table over every row (family folding off, the largest page length) against a plain
Array.sort of the same rows in the same page.

    python bench/bench_build.py [--data data] [--synthetic 100000] [--repeat 1] [--chromium]
        [--ranks-alone] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ranker.build.tables import architecture_table, legacy_sigma, probe_comparison
from ranker.store import Store
from ranker.testing.synthetic import synthetic_models

CHILD = """
import json, sys, time
from ranker.build import build_site
start = time.perf_counter()
report = build_site(sys.argv[1], sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - start, "pages": report.pages,
                  "models": report.models, "files": report.files, "bytes": report.bytes,
                  "largest_page": report.largest_page,
                  "largest_page_bytes": report.largest_page_bytes}))
"""


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


def _child_build(data: Path, out: Path) -> dict:
    """Build in a child process; its report, wall seconds and peak RSS (MiB)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["wall"] = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report["cpu"] = usage.ru_utime + usage.ru_stime - cpu  # the machine may be shared
    peak = usage.ru_maxrss  # KiB, the largest child
    report["peak_rss_mib"] = peak / 1024 if peak > before else None
    return report


def _disk(site: Path) -> tuple[int, int, Counter[str]]:
    """(apparent bytes, bytes of disk blocks, apparent bytes per top-level folder)."""
    apparent = blocks = 0
    parts: Counter[str] = Counter()
    for path in site.rglob("*"):
        if path.is_file():
            st = path.stat()
            apparent += st.st_size
            blocks += st.st_blocks * 512
            parts[path.relative_to(site).parts[0]] += st.st_size
    return apparent, blocks, parts


def _sortable_seconds(site: Path, slug: str, title: str) -> float:
    """From the click on the home page's link until the table has every row and sorts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((site / "index.html").as_uri())
        start = time.perf_counter()
        page.locator(f'a[href="arch/{slug}.html"]').first.click()
        page.wait_for_selector("html[data-table-ready]", timeout=120_000)
        seconds = time.perf_counter() - start
        total = page.evaluate("new DataTable.Api('#ranking').rows().count()")
        print(f"  {title}: {total:,} rows in the table")
        _sort_seconds(page)
        browser.close()
    return seconds


# In the page: every row shown (no family folding), the largest page length, then each sort a
# reader can ask for timed from the call to its drawn page; the baseline, in the same page, is
# a plain Array.sort of the same rows by the same key (what any sort costs at the least).
SORT_JS = """() => {
  const t = new DataTable.Api('#ranking'), out = {};
  document.getElementById('f-family').checked = false;
  document.getElementById('f-family').dispatchEvent(new Event('change', {bubbles: true}));
  t.page.len(Math.max(...t.settings()[0].lengthMenu.map(Number))).draw();
  const keys = t.columns().dataSrc().toArray(), rows = t.rows().data().toArray();
  for (const key of ['downloads', 'probe_accuracy', 'model_id', 'avg', 'last_modified']) {
    const i = keys.indexOf(key);
    if (i < 0) continue;
    for (const dir of ['asc', 'desc']) {
      let start = performance.now();
      t.order([[i, dir]]).draw();
      const table = performance.now() - start;
      start = performance.now();
      rows.slice().sort((a, b) => (a[key] ?? Infinity) < (b[key] ?? Infinity) ? -1 : 1);
      out[key + ' ' + dir] = [table, performance.now() - start, t.rows({page: 'current'}).count()];
    }
  }
  return out;
}"""


def _sort_seconds(page) -> float:
    """The slowest sort of the table over every row (seconds), printed with its baseline."""
    timings = page.evaluate(SORT_JS)
    for name, (table, plain, shown) in timings.items():
        ratio = table / max(plain, 0.01)
        print(f"  sort by {name}: {table / 1000:.3f} s ({shown} rows drawn); plain "
              f"Array.sort baseline {plain / 1000:.3f} s, ratio {ratio:.0f}x")  # fmt: skip
    worst = max(t for t, _, _ in timings.values()) / 1000
    print(f"Chromium: slowest sort of the largest table: {worst:.3f} s (goal 0.5 s)")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--synthetic", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--chromium", action="store_true", help="time the largest table")
    parser.add_argument("--keep", type=Path, help="copy the built site here")
    parser.add_argument("--ranks-alone", action="store_true", help="also time the ranks alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "data"
        shutil.copytree(args.data, data)
        store = Store(data)
        if args.synthetic:
            start = time.perf_counter()
            archs = store.architectures()
            results, catalog = list(store.results()), list(store.catalog())
            for i, arch in enumerate(archs):
                n = args.synthetic // len(archs) + (i < args.synthetic % len(archs))
                r, c = synthetic_models(arch.id, n)
                results += r
                catalog += c
            store.write_results(results)
            store.write_catalog(catalog)
            del results, catalog
            print(
                f"synthetic data: {args.synthetic:,} models in {time.perf_counter() - start:.0f} s"
            )
        (tmp_path / "naive").mkdir()
        naive = _time(lambda: _naive(data, tmp_path / "naive"), args.repeat)
        builds = [_child_build(data, tmp_path / "site") for _ in range(args.repeat)]
        full = statistics.median(b["seconds"] for b in builds)
        report = builds[-1]
        site = tmp_path / "site"
        apparent, blocks, parts = _disk(site)
        print(f"models listed: {report['models']:,}, pages: {report['pages']:,}, "
              f"files: {report['files']:,}, bytes written: {report['bytes']:,}")  # fmt: skip
        print(f"on disk: {apparent:,} bytes ({apparent / 2**20:.0f} MiB) apparent, "
              f"{blocks:,} bytes ({blocks / 2**20:.0f} MiB) in disk blocks")  # fmt: skip
        print(
            "  by folder: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in parts.most_common())
        )
        print(f"largest page: {report['largest_page']} {report['largest_page_bytes']:,} bytes")
        print(f"naive to_html baseline: {naive:.2f} s (median of {args.repeat}, this process)")
        print(f"ranker build:           {full:.2f} s (median of {args.repeat}, child process; "
              f"wall with interpreter start {report['wall']:.2f} s)")  # fmt: skip
        print(f"ratio build / baseline: {full / naive:.1f}x")
        print(f"CPU time of the build:  {report['cpu']:.2f} s (user + system, child process)")
        rss = report["peak_rss_mib"]
        print(f"peak RSS of the build:  {rss:.0f} MiB" if rss else "peak RSS: not measured")
        if args.ranks_alone:
            print("paired-bootstrap ranks alone (results compared, seconds):")
            for slug, (n, seconds) in _ranks(data).items():
                print(f"  {slug}: {n:,} in {seconds:.2f} s")
        print("architecture pages (bytes, gzip bytes; row chunks: files, bytes):")
        largest = ("", 0, "")
        for arch in Store(data).architectures():
            raw = (site / f"arch/{arch.slug}.html").read_bytes()
            chunks = list((site / "rows" / arch.slug).glob("*.js"))
            rows = json.loads(
                raw.split(b'id="table-data">')[1].split(b"</script>")[0].decode()
            )["total"]  # fmt: skip
            chunk_bytes = sum(c.stat().st_size for c in chunks)
            print(f"  {arch.slug}: {len(raw):,} ({len(gzip.compress(raw)):,}); {rows:,} rows; "
                  f"{len(chunks)} chunks, {chunk_bytes:,} bytes")  # fmt: skip
            if rows > largest[1]:
                largest = (arch.slug, rows, arch.title)
        if args.chromium:
            seconds = _sortable_seconds(site, largest[0], largest[2])
            print(f"Chromium: click until the {largest[1]:,}-row table sorts: {seconds:.2f} s")
        if args.keep:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(site, args.keep)


if __name__ == "__main__":
    main()
