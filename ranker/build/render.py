"""The one module that talks to Jinja: an autoescaping environment over `ranker/templates/`.

The templates and static assets live inside the package (package data in pyproject.toml), so a
wheel installed anywhere builds the site, not only a source checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ranker.build.glossary import GLOSSARY, term
from ranker.build.numbers import count, missing, scaled, size
from ranker.errors import RankerError

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

FLAG_LABELS = {
    "probe_failed": "legacy probe failed",
    "incomplete": "some task scores missing",
    "duplicate": "listed twice in the source",
    "shifted": "task columns look shifted",
}


def pct(value: Any, digits: int = 2) -> str:
    """A 0-1 score as a percentage without the sign, '–' where missing (ranker.build.numbers)."""
    return scaled(value, 100, digits)


def signed_pct(value: Any, digits: int = 2) -> str:
    """A 0-1 gain as signed percentage points: "+2.50", "-0.12"."""
    return scaled(value, 100, digits, sign=True)


def fixed3(value: Any) -> str:
    """LogME and H-score: three decimals, as the table shows them."""
    return scaled(value, 1, 3)


def ordinal(value: int) -> str:
    """The English ordinal suffix of a positive integer: 1 -> "st", 12 -> "th", 23 -> "rd"."""
    if 10 <= value % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(value % 10, "th")


def environment(templates: Path = TEMPLATES) -> Environment:
    if not templates.is_dir():
        raise RankerError(f"{templates}: templates folder not found (a broken ranker install)")
    env = Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(["html", "xml", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # compact JSON in pages: a model page's figure or a table's first rows, without spaces
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    # `count` (a number with thousands separators) replaces Jinja's alias of `length`
    env.filters.update(
        pct=pct, signed_pct=signed_pct, fixed3=fixed3, params=size, count=count, ordinal=ordinal
    )
    env.tests["missing"] = missing
    env.globals["FLAG_LABELS"] = FLAG_LABELS
    env.globals.update(term=term, GLOSSARY=GLOSSARY)
    return env
