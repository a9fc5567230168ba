"""DataFrame -> plotly figure (as a plain JSON-ready dict): the site's charts.

Pure functions. Figures use only trace types of plotly.js's basic bundle (scatter, bar), which
is the one the site vendors. Hover text is HTML-escaped, because plotly.js interprets a subset
of HTML tags in it.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ranker.build.numbers import fixed

Figure = dict[str, Any]

_LAYOUT = dict(
    template="none",
    height=320,
    margin=dict(l=60, r=20, t=40, b=50),
    font=dict(family="system-ui, sans-serif", size=12),
    hovermode="closest",
)


@functools.cache
def _cached_layout(title: str, options: str) -> str:
    fig = go.Figure()
    fig.update_layout(
        {**_LAYOUT, "title": dict(text=html.escape(title), x=0), **json.loads(options)}
    )
    # tick labels grow the margins instead of being cut (long names on a 390 px phone)
    fig.update_layout(xaxis_automargin=True, yaxis_automargin=True)
    return json.dumps(json.loads(fig.to_json())["layout"])


def _layout(title: str, **layout: Any) -> dict[str, Any]:
    """A validated layout, built once per distinct title and options (plotly's objects are slow)."""
    return json.loads(_cached_layout(title, json.dumps(layout, sort_keys=True)))


# Layout keys that a figure's own calls add (add_vline, add_hline, add_annotation) and that the
# cached layout, built from the title and options alone, does not have: kept from the figure.
_FIGURE_LAYOUT_KEYS = ("shapes", "annotations")


def _done(fig: go.Figure, title: str, **layout: Any) -> Figure:
    spec = json.loads(fig.to_json())
    merged = _layout(title, **layout)
    for key in _FIGURE_LAYOUT_KEYS:
        if key in spec["layout"]:
            merged[key] = spec["layout"][key]
    return {"data": spec["data"], "layout": merged}


def _finite(values: pd.Series, scale: float = 1.0) -> pd.Series:
    """Which values are finite numbers once scaled (what a chart can place)."""
    with np.errstate(over="ignore"):
        scaled = values.astype(float).to_numpy() * scale
    return pd.Series(np.isfinite(scaled), index=values.index)


def _day(value: object) -> dt.date | None:
    """The day a text starts with, when pandas' timestamps (1677 to 2262) can hold it."""
    try:
        day = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
    return day if pd.Timestamp.min.date() < day < pd.Timestamp.max.date() else None


def _hover(values: pd.Series) -> list[str]:
    return [html.escape(str(v)) for v in values]


def score_distribution(
    scores: pd.Series, base: float | None, *, label: str, base_label: str
) -> Figure:
    """Histogram of a score across models (in percent), the pretrained base marked."""
    present = scores.dropna()
    # a chart of what can be drawn, whatever it is given
    values = present[_finite(present, 100)].astype(float).to_numpy() * 100
    fig = go.Figure()
    if len(values):
        counts, edges = np.histogram(values, bins=min(40, max(5, len(values) // 5)))
        fig.add_bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=np.diff(edges),
            marker_color="#0b5cad",
            name="models",
            hovertemplate="%{x:.2f}: %{y} models<extra></extra>",
        )
    if base is not None:
        fig.add_vline(x=base * 100, line_color="#c0392b", line_dash="dash")
        fig.add_annotation(
            x=base * 100, y=1, yref="paper", text=html.escape(base_label), showarrow=False,
            xanchor="left", font=dict(color="#c0392b"),
        )  # fmt: skip
    return _done(fig, f"Distribution of {label}", xaxis_title=f"{label} (%)", yaxis_title="models")


def gain_vs_downloads(
    table: pd.DataFrame, gain_column: str, label: str, *, points: bool = True
) -> Figure | None:
    """Do popular models start better? None when no model has both figures.

    `points=False`: the trace without its points, and a `fill` key that names the row fields
    the page's script fills it from (the architecture page has every row already).
    """
    rows = table.dropna(subset=[gain_column, "downloads"])
    rows = rows[_finite(rows[gain_column], 100) & _finite(rows["downloads"])]
    if rows.empty:
        return None
    if not points:
        rows = rows.iloc[:0]
    fig = go.Figure(
        go.Scatter(
            x=rows["downloads"].astype(float) + 1,
            y=rows[gain_column].astype(float) * 100,
            mode="markers",
            marker=dict(size=6, color="#0b5cad", opacity=0.7),
            hovertext=_hover(rows["model_id"]),
            hovertemplate="%{hovertext}<br>%{x:,} downloads, gain %{y:+.2f}<extra></extra>",
        )
    )
    fig.add_hline(y=0, line_color="#c0392b", line_dash="dash")
    figure = _done(
        fig,
        f"{label} against downloads",
        xaxis=dict(type="log", title="downloads (+1, log scale)"),
        yaxis_title=f"{label} (points)",
    )
    if not points:
        figure["fill"] = {"x": "downloads", "y": gain_column, "text": "model_id"}
    return figure


def evaluated_over_time(dates: pd.Series) -> Figure | None:
    """Cumulative number of models evaluated, by evaluation date. None when there are none.

    A value that is not a day within pandas' timestamps (the build's records come through
    ranker.build.inputs, which names them; this chart never stops on one) is left out."""
    days = pd.Series([d for d in map(_day, dates.dropna()) if d is not None], dtype=object)
    if days.empty:
        return None
    days = pd.to_datetime(days).sort_values()
    counts = days.value_counts().sort_index().cumsum()
    fig = go.Figure(
        go.Scatter(
            x=[d.strftime("%Y-%m-%d") for d in counts.index],
            y=counts.to_numpy(),
            mode="lines+markers",
            line_shape="hv",
            hovertemplate="%{x}: %{y} models<extra></extra>",
        )
    )
    # Whole days: plotly picks sub-second ticks when every evaluation is from one day.
    first, last = counts.index[0], counts.index[-1]
    pad = pd.Timedelta(days=1) if (last - first) < pd.Timedelta(days=7) else pd.Timedelta(0)
    return _done(
        fig,
        "Models evaluated over time",
        yaxis_title="models evaluated",
        xaxis=dict(
            type="date",
            tickformat="%Y-%m-%d",
            range=[(first - pad).strftime("%Y-%m-%d"), (last + pad).strftime("%Y-%m-%d")],
            **({"dtick": 86400000} if (last - first) < pd.Timedelta(days=7) else {}),
        ),
    )


def task_gains(scores: dict[str, float | None], base: dict[str, float | None]) -> Figure | None:
    """Per legacy task, the model's score minus the pretrained base's 20-seed mean."""
    points = {
        t: float(fixed(100 * (v - b), 2))  # the hover shows the value as every page does
        for t, v in scores.items()
        if v is not None and (b := base.get(t)) is not None and np.isfinite(100 * (v - b))
    }
    if not points:
        return None
    tasks, gains = list(points), list(points.values())
    trace = {
        "type": "bar",
        "x": tasks,
        "y": gains,
        "marker": {"color": ["#1e8449" if g >= 0 else "#c0392b" for g in gains]},
        "hovertemplate": "%{x}: %{y:+.2f}<extra></extra>",
    }
    return {
        "data": [trace],
        "layout": _layout(
            "Gain over the pretrained model per task (2023 finetuning results)",
            yaxis_title="points",
            xaxis=dict(tickangle=-60, automargin=True),
            height=420,
            # room for the longest task name at -60 degrees ("amazon_reviews_multi")
            margin=dict(l=60, r=20, t=40, b=160),
        ),
    }


def rank_movement(history: list[tuple[str, int]]) -> Figure | None:
    """The model's probe rank (1 + models significantly better) after each update; None before
    a second update."""
    if len(history) < 2:
        return None
    trace = {
        "type": "scatter",
        "x": [d for d, _ in history],
        "y": [r for _, r in history],
        "mode": "lines+markers",
        "hovertemplate": "%{x}: rank %{y}<extra></extra>",
    }
    return {
        "data": [trace],
        "layout": _layout("Rank after each update", yaxis=dict(autorange="reversed", title="rank")),
    }


def rank_sparkline(
    history: list[tuple[str, int]], width: int = 320, height: int = 90
) -> str | None:
    """The model's probe rank after each update as a small inline SVG (no plotly on a model
    page for it); rank 1 at the top. None before a second update. The text is escaped."""
    if len(history) < 2:
        return None
    ranks = [r for _, r in history]
    best, worst = min(ranks), max(ranks)
    left, right, top, bottom = 44, 8, 8, 22
    step = (width - left - right) / (len(history) - 1)

    def y(rank: int) -> float:
        return top + (rank - best) / ((worst - best) or 1) * (height - top - bottom)

    points = " ".join(f"{left + i * step:.0f},{y(r):.0f}" for i, r in enumerate(ranks))
    (d0, r0), (d1, r1) = history[0], history[-1]
    label = html.escape(
        f"Rank after each of {len(history)} updates: #{r0} on {d0}, #{r1} on {d1}; "
        f"best #{best}, worst #{worst}"
    )
    first, last = html.escape(history[0][0]), html.escape(history[-1][0])
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" role="img"><title>{label}</title>'
        f'<polyline points="{points}"/>'
        f'<text x="{left - 6}" y="{y(best) + 4:.0f}" class="end">#{best}</text>'
        + (f'<text x="{left - 6}" y="{y(worst) + 4:.0f}" class="end">#{worst}</text>'
           if worst != best else "")
        + f'<text x="{left}" y="{height - 6}">{first}</text>'
        f'<text x="{width - right}" y="{height - 6}" class="end">{last}</text></svg>'
    )  # fmt: skip


def overview(gains: pd.DataFrame) -> Figure | None:
    """Home page: every ranked model's gain, one column of points per architecture.

    `gains` has columns architecture (title), model_id, gain (0-1 units).
    """
    rows = gains.dropna(subset=["gain"])
    rows = rows[_finite(rows["gain"], 100)]
    if rows.empty:
        return None
    fig = go.Figure()
    rng = np.random.default_rng(0)  # fixed jitter: the same site for the same data
    for i, (title, group) in enumerate(rows.groupby("architecture", sort=False)):
        fig.add_scatter(
            x=i + rng.uniform(-0.3, 0.3, len(group)),
            y=group["gain"].astype(float) * 100,
            mode="markers",
            name=html.escape(str(title)),
            marker=dict(size=5, opacity=0.6),
            hovertext=_hover(group["model_id"]),
            hovertemplate="%{hovertext}<br>gain %{y:+.2f}<extra></extra>",
        )
    titles = list(dict.fromkeys(rows["architecture"]))
    fig.add_hline(y=0, line_color="#c0392b", line_dash="dash")
    return _done(
        fig,
        "Gain over the pretrained model, every ranked model",
        xaxis=dict(tickvals=list(range(len(titles))), ticktext=[html.escape(t) for t in titles]),
        yaxis_title="gain (points)",
        showlegend=False,
        height=380,
    )
