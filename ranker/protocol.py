"""The probe protocol's fixed choices, in one place; `docs/protocol.md` explains each.

Any change that can move a score bumps `PROTOCOL_VERSION`, so results of different protocols are
never compared or overwritten (the store keys results by model, revision and protocol).
"""

from __future__ import annotations

PROTOCOL_VERSION = "lp-2"

# Data: MNLI from the hub's GLUE parquet files, or a MultiNLI-format JSONL file.
MNLI_REPO = "nyu-mll/glue"
MNLI_TRAIN_PATTERN = "mnli/train-*.parquet"
MNLI_EVAL_PATTERN = "mnli/validation_matched-*.parquet"
LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")  # GLUE's label ints 0, 1, 2
DEFAULT_TRAIN_SIZE = 5_000
DEFAULT_EVAL_SIZE = 5_000
DEFAULT_SEED = 0
EVAL_SAMPLE_SEED = 20230  # the evaluation sample is fixed: it does not move with --seed

# Features.
MAX_LENGTH = 128  # premise + hypothesis tokens, truncated longest-first
POOLING = "first+mean"  # concatenation of the first token's and the mean last-layer state
# The forward pass's float format on every device: float32 weights and activations, and on CUDA
# no TF32 and no bf16 autocast, so GPU features equal CPU features to ~1e-5 (docs/protocol.md).
PRECISION = "fp32"

# Classifier: multinomial logistic regression on standardised features. C is fixed: on SNLI with
# all-MiniLM-L6-v2, C=0.01 beat 0.1 and 1.0 at N=2k and N=10k (docs/benchmarks.md) and fits
# fastest. (`bench/bench_fit.py --grid` compares other values by cross-validation.)
C = 0.01
# The fit is solved to convergence, in float64, so that it has one answer: the objective
# (mean cross-entropy + |W|^2 / (2 C n), intercepts unpenalised) is strictly convex in W.
# The solver (ranker/evaluate/solver.py: float64 Newton with conjugate-gradient steps, in torch,
# on the device where the features are) stops when the largest gradient entry is at most
# SOLVER_TOL; the probe then recomputes that gradient itself and refuses a fit whose largest
# entry exceeds GRADIENT_TOL (a typed error, never a score). Until issue 11 it was
# scikit-learn's Newton-CG: the same optimum, 100% the same predictions (docs/protocol.md).
SOLVER_TOL = 1e-10
GRADIENT_TOL = 1e-9
MAX_ITER = 200  # Newton iterations; a 5,000-pair fit takes about 6

# Transferability estimators, computed from the standardised training features (LogME: the
# evidence fixed-point iteration stops when alpha and beta move by less than this, relatively).
LOGME_TOL = 1e-10
LOGME_MAX_ITER = 10_000
EIG_RCOND = 1e-10  # both leave out feature directions whose eigenvalue is below this x the largest

# Intervals.
BOOTSTRAP_RESAMPLES = 1_000
BOOTSTRAP_SEED = 7
CONFIDENCE = 0.95

# Safety: the one size cap is a parameter count. Before a download (listed sizes) and before a
# pickle is unpickled (file sizes) it is applied to bytes, at 4 bytes a parameter (float32, the
# widest dtype of the checkpoints ranked here) plus room for a pickle's framing.
DEFAULT_MAX_PARAMS = 1_000_000_000
BYTES_PER_PARAM = 4
SLACK_BYTES = 16 << 20


def max_weight_bytes(max_params: int) -> int:
    """The most bytes of weight files a model under the parameter cap can have."""
    return max_params * BYTES_PER_PARAM + SLACK_BYTES
