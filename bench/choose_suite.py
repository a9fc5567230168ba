"""Choose the finetuning suite of protocol ft-1 by measurement on IBM's 2023 data.

The question (issue 21): the smallest set of the 36 tasks whose average predicts the 36-task
average best across the architectures, weighed against its cost. Per architecture the models
are those with all 36 task scores and no flag (not shifted, incomplete, duplicate, nor the
pretrained base itself). A model's gain on a task is its score minus the base's seed mean on
that task; the target is the mean of the 36 gains. Within an architecture the base means are
constants, so a subset's average gain and its average score differ by a constant and give the
same Spearman; the gains are used because they are what `ranker verify` will store.

For k = 1..8 the chooser takes the k-task subset with the best mean Spearman over the six
architectures: exhaustively up to `--exhaustive` tasks (default 4: 58,905 subsets), beyond that
greedily (the best k-1 subset plus one task) followed by one-for-one swaps while they help.
Choosing and scoring on the same data flatters the choice, so each k is also chosen on five
architectures and scored on the sixth (leave one architecture out), which is the honest figure.

Two targets, both printed (`--target`): "all", the 36-task average, as the issue asks; and
"rest", the average over the 36 - k tasks outside the subset. The subset's own tasks, seed
noise included, are k/36 of the 36-task average, so "all" rewards suites of noisy tasks that
say little about the tasks they do not run; "rest" asks what a practitioner's own task needs.
Also printed: the probe and the suite together (the sum of their ranks) against the tasks
outside the suite, and the rule's recommendation (`recommend`). The figures and the reasoning
are in docs/benchmarks.md.

Cost: the training-set sizes of the 36 tasks are not recorded anywhere in this repository nor in
a package installed here, so they are not used. ft-1 caps every task's training set
(`--cap`, default 4,000 examples), so the finetuning cost per model and seed is at most
k x cap examples per epoch, proportional to k; smaller tasks only lower it.

    python bench/choose_suite.py [--data data] [--cap 4000] [--exhaustive 4] [--target both]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ranker.records import LEGACY_TASKS, LegacyBaseline, LegacyModel
from ranker.store import Store

K_MAX = 8
CHUNK = 4096  # subsets ranked at a time (memory: models x CHUNK x k floats)
EXCLUDED_FLAGS = ("shifted", "incomplete", "duplicate", "pretrained")
# the recommended k: the smallest whose held-out mean Spearman is within this of the best k's
NEAR_BEST = 0.02
TARGETS = {
    "all": "the 36-task average gain",
    "rest": "the average gain on the 36 - k tasks outside the subset",
}


@dataclass(frozen=True)
class ArchData:
    """One architecture's eligible models: per-task gains (n x 36), the target, the probe."""

    name: str
    models: tuple[str, ...]
    gains: np.ndarray
    target: np.ndarray
    probe: np.ndarray  # the 2023 MNLI linear probe (mnli_lp); NaN where it failed
    base_std: np.ndarray  # the base's seed standard deviation per task


@dataclass(frozen=True)
class Choice:
    """The subset chosen for one k, its Spearman per architecture, and the held-out figure."""

    k: int
    tasks: tuple[str, ...]
    target: str  # what the subset was chosen to predict: "all" (36 tasks) or "rest"
    rho: dict[str, float]  # per architecture, chosen on all six (in-sample)
    held_out: dict[str, float]  # per architecture, chosen on the other five
    held_out_tasks: dict[str, tuple[str, ...]]
    exhaustive: bool
    other: dict[str, float]  # per architecture, in-sample, against the other target
    with_probe: dict[str, float]  # probe + suite against the other tasks, in-sample
    with_probe_held_out: dict[str, float]  # the same with the subset chosen on the other five


def eligible(model: LegacyModel) -> bool:
    """A model with all 36 scores and none of the flags that make its row untrustworthy."""
    if any(f in model.flags for f in EXCLUDED_FLAGS):
        return False
    return all(model.scores.get(t) is not None for t in LEGACY_TASKS)


def architectures(
    models: Sequence[LegacyModel], baselines: Sequence[LegacyBaseline]
) -> list[ArchData]:
    """Group the eligible models by architecture, as gains over the base's per-task seed mean;
    architectures with fewer than 4 eligible models are left out (no Spearman to speak of)."""
    base = {(b.architecture, b.metric): b for b in baselines}
    out = []
    for arch in sorted({m.architecture for m in models}):
        rows = [m for m in models if m.architecture == arch and eligible(m)]
        if len(rows) < 4:
            continue
        means = np.array([base[(arch, t)].mean for t in LEGACY_TASKS])
        stds = np.array([base[(arch, t)].std for t in LEGACY_TASKS])
        scores = np.array([[m.scores[t] for t in LEGACY_TASKS] for m in rows], dtype=float)
        gains = scores - means
        probe = np.array([np.nan if m.mnli_lp is None else m.mnli_lp for m in rows])
        models_ = tuple(m.model_id for m in rows)
        out.append(ArchData(arch, models_, gains, gains.mean(axis=1), probe, stds))
    return out


def load(data: Path | str) -> list[ArchData]:
    """The architectures of the store at `data` (read through `ranker.store.Store`)."""
    store = Store(data)
    return architectures(store.legacy_models(), store.legacy_baselines())


def _centred_unit(x: np.ndarray) -> np.ndarray:
    """Ranks along axis 0, centred and scaled to unit norm (so a dot product is a Spearman)."""
    r = rankdata(x, axis=0)
    r = r - r.mean(axis=0)
    norm = np.linalg.norm(r, axis=0)
    return r / np.where(norm == 0, 1.0, norm)


def spearman_subsets(arch: ArchData, subsets: np.ndarray, target: str = "all") -> np.ndarray:
    """Spearman of each subset's average gain (rows of task indices) with the target: "all",
    the 36-task average, or "rest", the average of the 36 - k tasks outside the subset (the
    36-task average holds the subset's own seed noise, 1/36 per task, which flatters a suite
    of noisy tasks; "rest" asks whether the suite predicts the tasks it did not run)."""
    n_tasks, k = arch.gains.shape[1], subsets.shape[1]
    fixed = _centred_unit(arch.target)
    out = np.empty(len(subsets))
    for start in range(0, len(subsets), CHUNK):
        part = subsets[start : start + CHUNK]
        averages = arch.gains[:, part].mean(axis=2)  # n x chunk
        if target == "all" or k == n_tasks:
            rho = fixed @ _centred_unit(averages)
        else:
            rest = (n_tasks * arch.target[:, None] - k * averages) / (n_tasks - k)
            rho = (_centred_unit(rest) * _centred_unit(averages)).sum(axis=0)
        out[start : start + len(part)] = rho
    return out


def spearman_with_probe(arch: ArchData, subset: Sequence[int]) -> float:
    """Spearman of the probe and the suite together (the sum of their ranks) with the average
    gain on the tasks outside the suite: what verification adds to the probe it confirms."""
    inside = np.zeros(arch.gains.shape[1], dtype=bool)
    inside[list(subset)] = True
    keep = ~np.isnan(arch.probe)
    suite = arch.gains[keep][:, inside].mean(axis=1)
    rest = arch.gains[keep][:, ~inside].mean(axis=1) if not inside.all() else arch.target[keep]
    return spearman(rankdata(suite) + rankdata(arch.probe[keep]), rest)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman of two vectors, pairs with a NaN left out."""
    keep = ~(np.isnan(x) | np.isnan(y))
    return float(_centred_unit(x[keep]) @ _centred_unit(y[keep]))


def all_subsets(k: int, n: int = len(LEGACY_TASKS)) -> np.ndarray:
    return np.array(list(itertools.combinations(range(n), k)), dtype=np.intp)


def _mean_rho(archs: Sequence[ArchData], subsets: np.ndarray, target: str) -> np.ndarray:
    return np.mean([spearman_subsets(a, subsets, target) for a in archs], axis=0)


def improve(
    archs: Sequence[ArchData], start: tuple[int, ...], k: int, target: str = "all"
) -> tuple[int, ...]:
    """From `start` (k-1 tasks, or k), add the best task, then swap one task for another while
    the mean Spearman over `archs` rises."""
    current = tuple(sorted(start))
    n = len(LEGACY_TASKS)
    if len(current) < k:
        rest = [t for t in range(n) if t not in current]
        candidates = np.array([sorted((*current, t)) for t in rest], dtype=np.intp)
        current = tuple(candidates[int(np.argmax(_mean_rho(archs, candidates, target)))])
    best = float(_mean_rho(archs, np.array([current]), target)[0])
    while True:
        swaps = [
            tuple(sorted((*(c for c in current if c != out), into)))
            for out in current
            for into in range(n)
            if into not in current
        ]
        rhos = _mean_rho(archs, np.array(swaps, dtype=np.intp), target)
        i = int(np.argmax(rhos))
        if rhos[i] <= best + 1e-12:
            return current
        current, best = swaps[i], float(rhos[i])


def choose(
    archs: Sequence[ArchData], k_max: int = K_MAX, exhaustive: int = 4, target: str = "all"
) -> dict[str, list[tuple[int, ...]]]:
    """For each selection set (all architectures, "*", and all but each one), the best subset
    at every k = 1..k_max; the per-architecture Spearmans of every small subset are computed
    once and averaged over each selection set."""
    keys = ["*", *(a.name for a in archs)]
    rows = {key: [i for i, a in enumerate(archs) if a.name != key] for key in keys}
    chosen: dict[str, list[tuple[int, ...]]] = {key: [] for key in keys}
    for k in range(1, k_max + 1):
        if k <= exhaustive:
            subsets = all_subsets(k)
            rho = np.array([spearman_subsets(a, subsets, target) for a in archs])
            for key in keys:
                chosen[key].append(tuple(subsets[int(np.argmax(rho[rows[key]].mean(axis=0)))]))
        else:
            for key in keys:
                picked = [archs[i] for i in rows[key]]
                chosen[key].append(improve(picked, chosen[key][-1], k, target))
    return chosen


def _rho(arch: ArchData, subset: tuple[int, ...], target: str) -> float:
    return float(spearman_subsets(arch, np.array([subset], dtype=np.intp), target)[0])


def _names(subset: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(LEGACY_TASKS[t] for t in subset)


def choices(
    archs: Sequence[ArchData], k_max: int = K_MAX, exhaustive: int = 4, target: str = "all"
) -> list[Choice]:
    """The chosen subsets with their in-sample and held-out Spearman per architecture."""
    picked = choose(archs, k_max, exhaustive, target)
    other = "rest" if target == "all" else "all"
    out = []
    for i, k in enumerate(range(1, k_max + 1)):
        best, held = picked["*"][i], {a.name: picked[a.name][i] for a in archs}
        out.append(
            Choice(
                k=k,
                tasks=_names(best),
                target=target,
                rho={a.name: _rho(a, best, target) for a in archs},
                held_out={a.name: _rho(a, held[a.name], target) for a in archs},
                held_out_tasks={a.name: _names(held[a.name]) for a in archs},
                exhaustive=k <= exhaustive,
                other={a.name: _rho(a, best, other) for a in archs},
                with_probe={a.name: spearman_with_probe(a, best) for a in archs},
                with_probe_held_out={a.name: spearman_with_probe(a, held[a.name]) for a in archs},
            )
        )
    return out


def recommend(rows: Sequence[Choice]) -> Choice:
    """The smallest k whose held-out mean Spearman of the probe and the suite together against
    the tasks outside the suite is within NEAR_BEST of the best k's: what a suite chosen on
    other architectures adds to the probe for tasks it does not run. Beyond that k each task
    adds cost (k x cap examples) and no measurable prediction."""

    def held(c: Choice) -> float:
        return float(np.mean(list(c.with_probe_held_out.values())))

    best = max(map(held, rows))
    return next(c for c in rows if held(c) >= best - NEAR_BEST)


def ci95(rho: float, n: int) -> tuple[float, float]:
    """An approximate 95% interval of a Spearman from n pairs (Fisher z, se 1.06/sqrt(n-3))."""
    z, se = math.atanh(max(min(rho, 0.999999), -0.999999)), 1.06 / math.sqrt(max(n - 3, 1))
    return math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se)


def _short(name: str) -> str:
    return name.split("/")[-1]


def _cell(values: dict[str, float]) -> str:
    name, worst = min(values.items(), key=lambda kv: kv[1])
    return f"{np.mean(list(values.values())):.2f} ({worst:.2f} {_short(name)})"


def summary_table(archs: Sequence[ArchData], rows: Sequence[Choice], cap: int) -> list[str]:
    """One line per k: the subset chosen on all six; Spearman mean (worst architecture)
    in-sample, held out, against the other target, and of probe + suite against the tasks
    outside the suite; the cost bound."""
    other = "vs the other tasks" if rows[0].target == "all" else "vs all 36"
    lines = [
        "| k | tasks (chosen on all six) | in-sample | held out | "
        f"{other} | probe + suite vs the other tasks | the same, held out | cost |",
        "| --- " * 8 + "|",
    ]
    probe = {a.name: spearman(a.probe, a.target) for a in archs}
    lines.append(
        f"| - | the 2023 MNLI probe alone, vs all 36 | {_cell(probe)} | - | - | - | - | - |"
    )
    for c in rows:
        how = "" if c.exhaustive else " (greedy+swaps)"
        lines.append(
            f"| {c.k} | {', '.join(c.tasks)}{how} | {_cell(c.rho)} | {_cell(c.held_out)} | "
            f"{_cell(c.other)} | {_cell(c.with_probe)} | {_cell(c.with_probe_held_out)} | "
            f"<= {c.k * cap:,} |"
        )
    return lines


def arch_table(archs: Sequence[ArchData], rows: Sequence[Choice]) -> list[str]:
    """Per architecture: n, the probe's Spearman with an approximate 95% interval, and each
    k's Spearman in-sample / held out."""
    lines = ["| architecture | n | probe [95%] | " + " | ".join(f"k={c.k}" for c in rows) + " |"]
    lines.append("| --- " * (len(rows) + 3) + "|")
    for a in archs:
        rho = spearman(a.probe, a.target)
        lo, hi = ci95(rho, int((~np.isnan(a.probe)).sum()))
        cells = " | ".join(f"{c.rho[a.name]:.2f} / {c.held_out[a.name]:.2f}" for c in rows)
        lines.append(f"| {_short(a.name)} | {len(a.models)} | {rho:.2f} [{lo:.2f}, {hi:.2f}] "
                     f"| {cells} |")  # fmt: skip
    return lines


def report(archs: Sequence[ArchData], rows: Sequence[Choice], cap: int) -> str:
    """The tables of one target (printed, and recorded in docs/benchmarks.md)."""
    lines = [f"## target: {rows[0].target}, {TARGETS[rows[0].target]}", ""]
    lines += [*summary_table(archs, rows, cap), "", *arch_table(archs, rows)]
    pick = recommend(rows)
    noise = {
        t: float(np.mean([a.base_std[LEGACY_TASKS.index(t)] for a in archs])) for t in pick.tasks
    }
    lines += [
        "",
        f"recommended for this target: k={pick.k}: {', '.join(pick.tasks)}; cost <= "
        f"{pick.k * cap:,} training examples per model, seed and epoch",
        "the base's seed std on these tasks (mean over architectures): "
        + ", ".join(f"{t} {v:.3f}" for t, v in noise.items()),
    ]
    return "\n".join(lines)


def to_json(archs: Sequence[ArchData], rows: Sequence[Choice], cap: int) -> dict:
    """The figures of one target, for --json."""
    fields = ("k", "tasks", "rho", "held_out", "held_out_tasks", "exhaustive", "other",
              "with_probe", "with_probe_held_out")  # fmt: skip
    return {
        "target": rows[0].target,
        "cap": cap,
        "models": {a.name: len(a.models) for a in archs},
        "probe": {a.name: spearman(a.probe, a.target) for a in archs},
        "choices": [{f: getattr(c, f) for f in fields} for c in rows],
        "recommended": recommend(rows).k,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / "data"))
    parser.add_argument("--cap", type=int, default=4000, help="training examples per task")
    parser.add_argument("--k-max", type=int, default=K_MAX)
    parser.add_argument("--exhaustive", type=int, default=4, help="exhaustive up to this k")
    parser.add_argument("--target", choices=[*TARGETS, "both"], default="both")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    archs = load(args.data)
    print("models per architecture (all 36 tasks, no flag):")
    print("\n".join(f"  {a.name}: {len(a.models)}" for a in archs))
    figures, picks = [], {}
    for target in TARGETS if args.target == "both" else [args.target]:
        rows = choices(archs, args.k_max, args.exhaustive, target)
        print("\n" + report(archs, rows, args.cap))
        figures.append(to_json(archs, rows, args.cap))
        picks[target] = recommend(rows)
    pick = picks.get("rest") or picks["all"]
    print(f"\nrecommended suite (target {pick.target}): {', '.join(pick.tasks)}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
