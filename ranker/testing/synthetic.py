"""Synthetic evaluation results and catalog entries, for site tests and build benchmarks."""

from __future__ import annotations

from ranker.records import SCHEMA_VERSION, CatalogEntry, EvalResult

LICENSES = ("apache-2.0", "mit", "cc-by-4.0")
SIZES = (60_000_000, 125_000_000, 350_000_000)


def synthetic_models(
    architecture: str, n: int, *, reuse: list[str] = ()
) -> tuple[list[EvalResult], list[CatalogEntry]]:
    """`n` evaluated models of `architecture`: the ids in `reuse` first, then made-up ones.

    Scores, dates, downloads, likes, licenses and sizes vary deterministically with the index.
    """
    ids = list(reuse[:n]) + [f"synthetic/model-{i:05d}" for i in range(n - len(reuse[:n]))]
    results, catalog = [], []
    for i, model_id in enumerate(ids):
        acc = 0.45 + 0.3 * ((i * 7919) % n) / n
        day = f"2026-11-{1 + i % 20:02d}"
        sha = f"{i:040x}"
        results.append(
            EvalResult(
                schema_version=SCHEMA_VERSION, model_id=model_id, architecture=architecture,
                revision=sha, protocol_version="1", status="ok", evaluated_at=f"{day}T03:00:00Z",
                accuracy=acc, accuracy_low=acc - 0.01, accuracy_high=acc + 0.01, gain=acc - 0.55,
                gain_low=acc - 0.56, gain_high=acc - 0.54,
            )
        )  # fmt: skip
        catalog.append(
            CatalogEntry(
                schema_version=SCHEMA_VERSION, model_id=model_id, architecture=architecture,
                sha=sha, status="ok", downloads=(i * 37) % 10000, likes=i % 50,
                license=LICENSES[i % 3], params=SIZES[i % 3],
            )
        )  # fmt: skip
    return results, catalog
