"""A model's rank as a badge for its model card: SVG, shields.io endpoint JSON, Markdown."""

from __future__ import annotations

from xml.sax.saxutils import escape

LABEL = "ranker"

# Width per character of 11px Verdana, roughly; enough for a badge that never clips.
_CHAR_WIDTH = 6.5


def badge_message(rank: int | None, total: int, arch_title: str, tied: int = 1) -> str:
    """ "#k of N" only when k is earned: k - 1 models are significantly better, and this one is
    the only model with rank k. When `tied` models share rank k, the badge says so: no test
    separates them, so none of them is "#k" alone.

    "#3 of 385 RoBERTa base"; "#1 of 385 RoBERTa base (tied, 12 models)"; "unranked RoBERTa base".
    """
    if rank is None:
        return f"unranked {arch_title}"
    if tied > 1:
        return f"#{rank} of {total} {arch_title} (tied, {tied} models)"
    return f"#{rank} of {total} {arch_title}"


def badge_color(rank: int | None, total: int) -> str:
    if rank is None or total == 0:
        return "lightgrey"
    share = rank / total
    return "brightgreen" if share <= 0.1 else "green" if share <= 0.5 else "blue"


_HEX = {"brightgreen": "#4c1", "green": "#97ca00", "blue": "#007ec6", "lightgrey": "#9f9f9f"}


def badge_svg(message: str, color: str) -> str:
    """A flat badge; text is XML-escaped since the architecture title comes from config."""
    left = int(len(LABEL) * _CHAR_WIDTH + 10)
    right = int(len(message) * _CHAR_WIDTH + 10)
    total = left + right
    label_x, message_x = left / 2, left + right / 2
    text = escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20">'
        f"<title>{LABEL}: {text}</title>"
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{_HEX[color]}"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,sans-serif" font-size="11">'
        f'<text x="{label_x:g}" y="14">{LABEL}</text>'
        f'<text x="{message_x:g}" y="14">{text}</text></g></svg>\n'
    )


def shields_endpoint(message: str, color: str) -> dict[str, object]:
    """The JSON that https://img.shields.io/endpoint?url=... renders as a badge."""
    return {"schemaVersion": 1, "label": LABEL, "message": message, "color": color}


def markdown_snippet(site_url: str | None, badge_path: str, page_path: str) -> str:
    """What a model author pastes into the model card; relative links if no site URL is set."""
    if site_url:
        base = site_url.rstrip("/") + "/"
        return f"[![ranker]({base}{badge_path})]({base}{page_path})"
    return f"[![ranker]({badge_path})]({page_path})"
