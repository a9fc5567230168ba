"""The plain entry point: `evaluate_model` scores one model and returns its record.

It writes nothing: the caller (the CLI, the pipeline's loop) stores what it returns. A run
that scores many models keeps one `Evaluator` (its caches, its door) and passes it in; without
one, a one-off evaluator is made for the call. The executors call `evaluate_model` by this
module's name, so a test or an instrumented worker can replace it.
"""

from __future__ import annotations

from ranker.evaluate.caches import feature_cache_key
from ranker.evaluate.data import ProbeData
from ranker.evaluate.evaluator import Evaluator, Options, Scored
from ranker.evaluate.fetch import model_key
from ranker.evaluate.steps import BaseUnavailable
from ranker.records import Architecture, EvalResult

__all__ = ["BaseUnavailable", "Evaluator", "Options", "Scored", "evaluate_model",
           "feature_cache_key", "model_key"]  # fmt: skip


def evaluate_model(
    model: str,
    data: ProbeData,
    *,
    revision: str | None = None,
    architecture: Architecture | None = None,
    base: str | None = None,
    model_id: str | None = None,
    architectures: list[Architecture] | None = None,
    options: Options | None = None,
    evaluator: Evaluator | None = None,
) -> EvalResult:
    """Score one model (see `Evaluator.evaluate`) and return its record, storing nothing.

    `evaluator`: the run's warm evaluator, made for `data` (its caches and door serve every
    model of the run); when None, one is made from `data` and `options` for this call."""
    if evaluator is None:
        evaluator = Evaluator(data, options)
    elif evaluator.data is not data:
        raise ValueError("the evaluator was made for other probe data")
    return evaluator.evaluate(model, revision=revision, architecture=architecture, base=base,
                              model_id=model_id, architectures=architectures)  # fmt: skip
