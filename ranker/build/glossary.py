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

TERMS_PAGE = "methodology.html"


@dataclass(frozen=True)
class Term:
    label: str  # as the site writes it
    short: str  # one sentence, the tooltip
    long: str = ""  # the "Terms" section adds this after `short`


GLOSSARY: dict[str, Term] = {
    "probe": Term(
        "MNLI probe",
        "A linear classifier trained on MNLI on top of the frozen model; its test accuracy "
        "predicts how good a starting point the model is.",
    ),
    "protocol": Term(
        "protocol",
        "The fixed recipe of the probe (data sample, layer, pooling, classifier, seeds); only "
        "results of one protocol are compared with each other.",
    ),
    "36-task": Term(
        "36-task average",
        "IBM's 2023 measure: the model finetuned on each of 36 classification tasks, the scores "
        "averaged.",
    ),
    "gain": Term(
        "gain",
        "A model's score minus its pretrained base's score on the same measure, in points.",
    ),
    "rank": Term(
        "rank",
        "1 + the number of models significantly better than this one, so several models can "
        "share a rank; “3=” marks a shared rank.",
    ),
    "threshold-2023": Term(
        "1.96·σ·√2",
        "The 2023 rule: one finetuning run varies by the base's seed-to-seed standard deviation "
        "σ, so a difference of two averages is significant when it exceeds 1.96·σ·√2.",
    ),
    "ci": Term(
        "95% CI",
        "A 95% bootstrap confidence interval over the evaluation pairs.",
    ),
    "logme": Term(
        "LogME",
        "A training-free estimate of how well the frozen features fit the MNLI labels (the log "
        "of the maximum evidence, You et al. 2021); higher is better.",
    ),
    "h-score": Term(
        "H-score",
        "A training-free transferability score from the features' between-class and total "
        "covariance (Bao et al. 2019); higher is better.",
    ),
    "shifted": Term(
        "shifted",
        "The model's 2023 task columns look moved by one task in IBM's data, so its 2023 scores "
        "are not trusted and it has no 2023 rank.",
    ),
    "incomplete": Term(
        "incomplete",
        "Some of the model's 36 task scores are missing in IBM's data, so its 36-task average is "
        "not comparable and it has no 2023 rank.",
    ),
    "nli": Term(
        "NLI",
        "The model was already trained on NLI data, the probe's own task, which the MNLI probe "
        "favours.",
    ),
    "family": Term(
        "family",
        "Near-duplicates: one author's iterations, seeds and versions of a model, or models "
        "finetuned from one another.",
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
