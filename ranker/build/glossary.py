"""The site's terms, each explained once: a tooltip where the term is used and an entry in the
methodology page's "Terms" section, both from this table, so the two never disagree.

Templates write `{{ term("logme") }}` (or `{{ term("logme", "LogME score") }}` for other words);
scripts get the same table as data (`GLOSSARY`) for their column headers.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from ranker import ft_protocol
from ranker.protocol import (
    BOOTSTRAP_RESAMPLES,
    DEFAULT_EVAL_SIZE,
    DEFAULT_TRAIN_SIZE,
    MAX_LENGTH,
    PROTOCOL_VERSION,
    C,
)

TERMS_PAGE = "methodology.html"


@dataclass(frozen=True)
class Term:
    label: str  # as the site writes it
    short: str  # one sentence, the tooltip
    long: str = ""  # the "Terms" section adds this after `short`


GLOSSARY: dict[str, Term] = {
    "probe": Term(
        "MNLI probe",
        "A linear classifier trained on MNLI on top of the frozen model; its accuracy on "
        "held-out MNLI pairs predicts how good a starting point the model is.",
        "The model's weights are never changed: it only turns each premise–hypothesis pair into "
        "features (its last layer's first-token state and mean state, side by side), and a "
        "multinomial logistic regression learns entailment / neutral / contradiction from them. "
        "The score is the share of held-out pairs it gets right, in percent. The exact recipe "
        "is the protocol.",
    ),
    "protocol": Term(
        "protocol",
        "The fixed recipe of the probe (data sample, layer, pooling, classifier, seeds); only "
        "results of one protocol are compared with each other.",
        "Any change that can move a score gets a new protocol version; results of an older "
        "version are kept and shown on the model page, never ranked with the current ones.",
    ),
    PROTOCOL_VERSION: Term(
        PROTOCOL_VERSION,
        f"The current probe protocol: {DEFAULT_TRAIN_SIZE:,} MNLI training pairs and "
        f"{DEFAULT_EVAL_SIZE:,} validation-matched pairs (fixed, seeded samples), up to "
        f"{MAX_LENGTH} tokens, first-token and mean last-layer states, logistic regression "
        f"with C = {C}, solved to convergence in float64.",
        f"The evaluation sample is the same for every model and its pretrained base, so two "
        f"models' results can be compared pair by pair. Intervals come from "
        f"{BOOTSTRAP_RESAMPLES:,} bootstrap resamples of the evaluation pairs. Its name is the "
        f"protocol version results are stored under.",
    ),
    "36-task": Term(
        "36-task average",
        "IBM's 2023 measure: the model finetuned once on each of 36 datasets, the 36 scores "
        "(accuracy; Spearman correlation for STS-B) averaged, in percent.",
        "Published by IBM (Choshen et al., EMNLP 2023) for about 1,300 models, dated April "
        "2023. It is the expensive measurement the probe tries to predict. A model with some "
        "task scores missing has no average.",
    ),
    "gain": Term(
        "gain",
        "A model's score minus its pretrained base's score on the same measure, in points.",
        "For our probe, the base is probed on the same evaluation pairs and the gain's interval "
        "is a paired bootstrap; for the 2023 data, the base's score is its mean over the "
        "finetuning seeds IBM ran it with.",
    ),
    "rank": Term(
        "rank",
        "1 + the number of models significantly better than this one, so several models can "
        "share a rank; “3=” marks a shared rank.",
        "Within an architecture only. Where paired tests are not transitive, a rank is raised "
        "above the rank of every model that beats it, so no model ranks at or above one that "
        "is significantly better. Within a shared rank, the order by score is not evidence.",
    ),
    "threshold-2023": Term(
        "1.96·σ·√2",
        "The 2023 rule: one finetuning run varies by σ, the pretrained base's seed-to-seed "
        "standard deviation of its 36-task average, so a difference of two models' averages is "
        "significant when it exceeds 1.96·σ·√2.",
        "Two independent runs differ by noise of standard deviation σ·√2; 1.96 of those is a "
        "two-sided 95% test. It decides the 2023 rank: 1 + the models whose average is higher "
        "by more than this.",
    ),
    "ci": Term(
        "95% CI",
        "A 95% bootstrap confidence interval over the evaluation pairs.",
        f"The 2.5% and 97.5% quantiles of the score over {BOOTSTRAP_RESAMPLES:,} resamples of "
        "the evaluation pairs, drawn with replacement (seeded); a gain's interval resamples the "
        "model's and its base's results on the same pairs.",
    ),
    "logme": Term(
        "LogME",
        "A training-free estimate of how well the frozen features fit the MNLI labels (the log "
        "of the maximum evidence, You et al. 2021); higher is better.",
        "Per class, the log evidence of a Bayesian linear regression of the one-hot label on the "
        "encoder's training features as they are, maximised over its two precisions, divided "
        "by the number of pairs and averaged over the classes. Shown next to the probe, never "
        "ranked by.",
    ),
    "h-score": Term(
        "H-score",
        "A training-free transferability score from the features' between-class and total "
        "covariance (Bao et al. 2019); higher is better.",
        "tr(cov(f)⁻¹ · cov(E[f | class])) on the standardised training features: between 0 and "
        "the number of classes − 1 (2 for MNLI). Shown next to the probe, never ranked by.",
    ),
    "shifted": Term(
        "shifted",
        "From some task on, the model's 2023 per-task scores look moved one column over in "
        "IBM's data, so its single task scores are not trusted and it has no 2023 rank.",
        "Detected by comparing each complete row with the typical score of each task: a row "
        "that fits far better read one column over is flagged, with the first shifted task. "
        "It keeps its row and its 36-task average, which is barely affected.",
    ),
    "incomplete": Term(
        "incomplete",
        "Some, but not all, of the model's 36 task scores are missing in IBM's data, so it has "
        "no 36-task average and no 2023 rank.",
    ),
    "nli": Term(
        "NLI",
        "The model was already trained on NLI data, the probe's own task, which the MNLI probe "
        "favours.",
        "Recognised by the model's hub dataset tags (MNLI, SNLI, ANLI, XNLI...) or its name; "
        "the architecture pages can hide such models.",
    ),
    "family": Term(
        "family",
        "Near-duplicates: one author's iterations, seeds and versions of a model, or models "
        "finetuned from one another.",
        "Two models are one family when they share an author and a name stem (the name without "
        "trailing iteration, seed, version, run, epoch, step, checkpoint or fold numbers), or "
        "when one declares the other as its base model on the hub.",
    ),
    "verified-gain": Term(
        "verified gain",
        f"What finetuning says of a model (ranker verify, protocol "
        f"{ft_protocol.FT_PROTOCOL_VERSION}): its mean score after finetuning on "
        f"{len(ft_protocol.SUITE)} target tasks ({', '.join(ft_protocol.TASKS)}) minus its "
        "pretrained base's, in points, with a 95% interval.",
        f"Each model is finetuned with {ft_protocol.MODEL_SEEDS} seeds per task, its base with "
        f"{ft_protocol.BASE_SEEDS} ({ft_protocol.T5_BASE_SEEDS} for T5), so the base's seed to "
        "seed spread is the yardstick. Per task, the gain's interval is Welch's t over the two "
        "sets of seeds; over the suite, the gain is the mean of the task gains, its interval "
        "Welch's with Welch–Satterthwaite degrees of freedom. Significant: the interval's lower "
        "end is above zero and every task has a gain. Only the probe's leaders are verified; it "
        "is shown as evidence beside the probe's rank, never as a rank.",
    ),
    "ft-1": Term(
        ft_protocol.FT_PROTOCOL_VERSION,
        "The finetuning protocol of ranker verify: the whole model and a new head trained on "
        "a fixed sample of each target task, the same for every model.",
        f"Each task's training set is capped at {ft_protocol.TRAIN_CAP:,} examples and its "
        f"validation set at {ft_protocol.EVAL_CAP:,}, drawn once with the protocol's seeds; "
        f"{ft_protocol.EPOCHS} epochs, batch size {ft_protocol.BATCH_SIZE}, learning rate "
        f"{ft_protocol.LEARNING_RATE:g}, inputs of at most {ft_protocol.MAX_LENGTH} tokens. "
        "The datasets are read at pinned revisions; a seed that fails is recorded, never "
        "dropped.",
    ),
}


@pass_context
def term(context: Context, key: str, label: str | None = None) -> Markup:
    """The term as written, with its one-sentence tooltip and a link to its entry."""
    t = GLOSSARY[key]
    root = context.get("root", "")
    return Markup('<a class="term" href="{}{}#term-{}" title="{}">{}</a>').format(
        root, TERMS_PAGE, key, t.short, escape(label or t.label)
    )
