"""The site's charts keep what their builders draw: markers, annotations and sane axes."""

from __future__ import annotations

import pandas as pd

from ranker.build import charts


def test_score_distribution_keeps_the_base_marker_and_its_label() -> None:
    fig = charts.score_distribution(
        pd.Series([0.50, 0.61, 0.55, 0.58]), 0.52, label="MNLI probe", base_label="roberta-base"
    )
    (line,) = fig["layout"]["shapes"]
    assert line["type"] == "line" and line["x0"] == line["x1"] == 52.0
    (note,) = fig["layout"]["annotations"]
    assert note["text"] == "roberta-base" and note["x"] == 52.0
    assert fig["layout"]["title"]["text"] == "Distribution of MNLI probe"


def test_base_label_is_escaped_in_the_annotation() -> None:
    fig = charts.score_distribution(
        pd.Series([0.5, 0.6]), 0.55, label="probe", base_label="<b>x</b>"
    )
    assert fig["layout"]["annotations"][0]["text"] == "&lt;b&gt;x&lt;/b&gt;"


def test_gain_charts_keep_a_horizontal_zero_line() -> None:
    table = pd.DataFrame({"model_id": ["a/b", "c/d"], "gain": [0.01, -0.02],
                          "downloads": [10, 2000]})  # fmt: skip
    overview = charts.overview(table.assign(architecture=["RoBERTa", "BERT"]))
    scatter = charts.gain_vs_downloads(table, "gain", "gain")
    for fig in (overview, scatter):
        assert fig is not None
        (zero,) = fig["layout"]["shapes"]
        # across the whole plot at y = 0, not a vertical line through one architecture's strip
        assert zero["y0"] == zero["y1"] == 0 and zero["xref"] == "x domain"
        assert (zero["x0"], zero["x1"]) == (0, 1)


def test_evaluations_on_one_day_tick_in_days_not_milliseconds() -> None:
    fig = charts.evaluated_over_time(
        pd.Series(["2026-11-27T01:00:00+00:00", "2026-11-27T03:10:00+00:00"])
    )
    axis = fig["layout"]["xaxis"]
    assert axis["type"] == "date" and axis["tickformat"] == "%Y-%m-%d"
    assert axis["dtick"] == 86_400_000  # one tick a day
    assert axis["range"] == ["2026-11-26", "2026-11-28"]


def test_task_gain_chart_has_room_for_the_longest_task_name() -> None:
    fig = charts.task_gains({"amazon_reviews_multi": 0.6, "rte": 0.7},
                            {"amazon_reviews_multi": 0.5, "rte": 0.72})  # fmt: skip
    layout = fig["layout"]
    assert layout["xaxis"]["automargin"] is True
    assert layout["margin"]["b"] >= 150  # 20 characters at -60 degrees in 12 px type


def test_charts_leave_out_what_they_cannot_place() -> None:
    """Pure functions that never stop on a value: a day past pandas' last timestamp, text that
    is not a day, a score whose percentage overflows to infinity."""
    timeline = charts.evaluated_over_time(
        pd.Series(["9999-12-31T00:00:00Z", "0001-01-01", "nan", None, "2026-11-20T10:00:00Z"])
    )
    assert timeline is not None and timeline["data"][0]["x"] == ["2026-11-20"]
    assert charts.evaluated_over_time(pd.Series(["9999-12-31", "x"])) is None
    fig = charts.score_distribution(pd.Series([1e308, 0.5, 0.6]), None, label="p", base_label="b")
    assert fig["data"][0]["type"] == "bar"  # drawn from the finite scores only
    table = pd.DataFrame({"model_id": ["a/b", "c/d"], "gain": [1e308, 0.01],
                          "downloads": [10, 20]})  # fmt: skip
    assert charts.gain_vs_downloads(table, "gain", "gain") is not None
    assert charts.overview(table.assign(architecture="R")) is not None
    assert charts.task_gains({"rte": 1e308, "cola": 0.6}, {"rte": -1e308, "cola": 0.5}) is not None


def test_every_chart_grows_its_margins_for_its_tick_labels() -> None:
    """Long tick labels (architecture and task names) on a 390 px phone push the plot in rather
    than being cut at the chart's edge: automargin on both axes of every chart."""
    table = pd.DataFrame({"model_id": ["a/b", "c/d"], "gain": [0.01, -0.02],
                          "downloads": [10, 2000]})  # fmt: skip
    figures = [
        charts.score_distribution(pd.Series([0.5, 0.6]), 0.55, label="p", base_label="b"),
        charts.gain_vs_downloads(table, "gain", "gain"),
        charts.evaluated_over_time(pd.Series(["2026-11-20", "2026-11-27"])),
        charts.task_gains({"amazon_reviews_multi": 0.6}, {"amazon_reviews_multi": 0.5}),
        charts.rank_movement([("2026-11-01", 3), ("2026-11-08", 1)]),
        charts.overview(table.assign(architecture=["RoBERTa base", "BERT base (cased)"])),
    ]
    for fig in figures:
        assert fig is not None
        layout = fig["layout"]
        assert layout["xaxis"]["automargin"] is True and layout["yaxis"]["automargin"] is True
