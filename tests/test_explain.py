"""Every reason a model is not ranked has plain words, and the ones an owner can fix, advice."""

from __future__ import annotations

from ranker.errors import TRANSIENT_REASONS, Reason
from ranker.explain import PENDING, PENDING_WORDS, REASONS, advice, reason_words


def test_every_exclusion_and_permanent_failure_has_words() -> None:
    reasons = [*REASONS, *(r.value for r in Reason if r not in TRANSIENT_REASONS)]
    for reason in reasons:
        words = reason_words(reason)
        assert words and words != reason.replace("-", " "), reason


def test_reasons_an_owner_can_fix_come_with_advice() -> None:
    fixable = ["private", "adapter", "quantized", "custom-code", "no-config", "no-weights",
               "subfolder-only", "unsafe-pickle", "missing-weights", "tokenizer"]  # fmt: skip
    for reason in fixable:
        assert advice(reason), reason
    assert advice(None) == "" and advice("rate-limited") == ""


def test_pending_and_unknown_reasons() -> None:
    assert reason_words(PENDING) == PENDING_WORDS
    assert reason_words("some-new-reason") == "some new reason"
    assert reason_words(None) == "no reason recorded"
