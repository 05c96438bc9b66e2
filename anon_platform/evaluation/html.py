"""The quality report as one self-contained HTML file, safe to release next to the data.

Charts are drawn by plotly.js, embedded once (about 4.8 MB of the file) so that the page opens
offline; each chart holds only aggregated counts, never a row.

What the page may show of the real (train) data, and why that is no individual's value:
- Counts per bin or category, drawn only when at least `settings.plot_min_count` real rows fall
  in it (threshold cell suppression, as in statistical disclosure control); smaller cells are
  left out and counted in a footnote. A cell of 1 to k-1 rows would let a reader learn that
  someone has a rare value; a cell of at least k rows hides each member among k.
- Bin edges on a rounded grid: the step is a 1-2-5 number and the edges are its multiples, laid
  from the 1 % to the 99 % quantile; the outermost bins are open ("< a", ">= b"). No minimum or
  maximum of a real column is computed for display, so an outlier shows up only as one more row
  in an open bin (tested with a planted unique value).
- Category labels only for categories held by at least k real rows (the 30 most frequent); all
  others, real or synthetic, go into one "other" bar.
- Real shares are taken over the drawn cells only: the page states that a cell holds 1 to k-1
  rows (the footnote counts such cells) and prints no count or share for it.
- Columns: `TableSchema.modelled_columns` only, so keys and direct identifiers are never plotted.
- Association matrices: Cramér's V over the same bins (a mixed measure: numbers, dates and
  categories alike), one number per column pair aggregated over all rows.
"""

from __future__ import annotations

import html
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.offline import get_plotlyjs
from scipy.stats.contingency import association

from anon_platform.catalog.schema import ColumnSchema, DatasetSchema, TableSchema
from anon_platform.catalog.specs import ColumnType, EvaluationSettings
from anon_platform.gates.results import Expectation, GateResult

MAX_BINS = 20
MAX_CATEGORIES = 30
DISCRETE_MAX_VALUES = 20
MISSING = "(missing)"
OTHER = "(other)"
REAL_COLOR = "#1f77b4"
SYNTHETIC_COLOR = "#ff7f0e"
HOLDOUT_COLOR = "#2ca02c"

METRIC_NOTES: dict[str, str] = {
    "quality": "SDMetrics quality score (mean of column shapes and pair trends)",
    "column_shapes": "similarity of each column's distribution",
    "column_pair_trends": "similarity of correlations between column pairs",
    "discriminator_auc": "AUC of a classifier telling synthetic from train (0.5 = alike)",
    "discriminator_auc_reference": "the same classifier telling holdout from train",
    "tstr": "model trained on synthetic, tested on real holdout",
    "trtr": "model trained on train, tested on real holdout",
    "utility_ratio": "TSTR over TRTR",
    "identical_match_share": "share of synthetic rows equal to a train row",
    "identical_match_reference": "share of holdout rows equal to a train row",
    "identical_match_p_value": "test that synthetic copies train rows more often than holdout does",
    "dcr_share": "share of synthetic rows closer to train than to holdout (0.5 = private)",
    "dcr_share_p_value": "one-sided permutation test of the DCR share against 0.5",
    "dcr_tail_ratio": "5th-percentile distance to train over distance to holdout",
    "dcr_tail_p_value": "test of the DCR tail",
    "nndr_tail_ratio": "5th-percentile nearest-neighbour distance ratio, train over holdout",
    "nndr_tail_p_value": "test of the NNDR tail",
    "singling_out_risk": "Anonymeter singling-out risk (upper bound shown in the risk chart)",
    "linkability_risk": "Anonymeter linkability risk",
    "inference_risk": "Anonymeter attribute-inference risk, worst column",
    "k_anonymity": "smallest class of released rows on the quasi-identifiers",
}

_TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 50, "r": 20, "t": 40, "b": 60},
        "xaxis": {"showline": True, "linecolor": "#888"},
        "yaxis": {"gridcolor": "#e5e5e5"},
        "legend": {"orientation": "h", "y": 1.12},
    }
)


@dataclass(frozen=True)
class Binning:
    """How one column is cut into labelled cells; the same cells for real and synthetic."""

    labels: list[str]
    kind: str  # "numeric" or "categorical"
    edges: np.ndarray | None = None  # numeric: inner edges, cells (-inf,e0), [e0,e1)..[en,inf)
    categories: dict[str, int] = field(default_factory=dict)

    def codes(self, series: pl.Series) -> np.ndarray:
        """Cell index of every value; nulls go to the last cell (`MISSING`)."""
        missing = len(self.labels) - 1
        nulls = series.is_null().to_numpy()
        if self.kind == "numeric":
            values = _as_numbers(series)
            codes = np.searchsorted(self.edges, np.nan_to_num(values), side="right")
        else:
            codes = (
                series.cast(pl.String)
                .replace_strict(self.categories, default=self.categories[OTHER])
                .cast(pl.Int64)
                .fill_null(missing)
                .to_numpy()
            )
        codes = np.where(nulls, missing, codes)
        return codes.astype(np.int64)


@dataclass(frozen=True)
class Marginal:
    """Counts per cell of one column; real counts under the threshold are None (suppressed)."""

    column: str
    labels: list[str]
    real: list[int | None]
    synthetic: list[int]
    suppressed: int


def _as_numbers(series: pl.Series) -> np.ndarray:
    """Numbers, dates (days since 1970) and datetimes (days, fractional) as float64."""
    if series.dtype == pl.Date:
        series = series.cast(pl.Int64)
    elif isinstance(series.dtype, pl.Datetime):
        series = series.dt.epoch("ms").cast(pl.Float64) / 86_400_000.0
    elif series.dtype == pl.Boolean:
        series = series.cast(pl.Int64)
    return series.cast(pl.Float64).to_numpy().astype(np.float64)


def nice_step(span: float, bins: int) -> float:
    """The 1-2-5 number nearest above span / bins (e.g. 850 -> 1000, 0.13 -> 0.2)."""
    raw = span / bins if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _format_edge(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}"


def _calendar_edges(low: float, high: float) -> tuple[np.ndarray, list[str]]:
    """Edges (days since 1970) on whole years, months or days, whichever gives at most about
    20 cells between `low` and `high`, with their labels (1990, 1990-04 or 1990-04-17)."""
    span = high - low
    for unit, days, fmt in (("Y", 365.25, 4), ("M", 30.44, 7), ("D", 1.0, 10)):
        if span >= 2 * days or unit == "D":
            step = max(1, round(nice_step(span / days, MAX_BINS)))
            first = np.datetime64(int(low), "D").astype(f"datetime64[{unit}]").astype(np.int64)
            last = np.datetime64(math.ceil(high), "D").astype(f"datetime64[{unit}]")
            start = (first // step) * step
            stop = -(-(last.astype(np.int64) + 1) // step) * step
            edges = np.arange(start, stop + 1, step).astype(f"datetime64[{unit}]")
            labels = [str(e)[:fmt] for e in edges]
            return edges.astype("datetime64[D]").astype(np.int64).astype(np.float64), labels
    raise AssertionError(unit)


def _numeric_binning(real: np.ndarray, column_type: ColumnType) -> Binning:
    """Rounded-grid edges from the 1 % to the 99 % quantile of the real values, open outer bins:
    1-2-5 steps for numbers, whole years, months or days for dates."""
    values = real[~np.isnan(real)]
    if values.size == 0:
        return Binning(labels=[MISSING], kind="numeric", edges=np.array([]))
    low, high = (float(q) for q in np.quantile(values, [0.01, 0.99]))
    if column_type in (ColumnType.DATE, ColumnType.DATETIME):
        edges, text = _calendar_edges(low, high)
    else:
        step = nice_step(high - low, MAX_BINS)
        start = math.floor(low / step) * step
        stop = max(math.ceil(high / step) * step, start + step)
        edges = np.arange(start, stop + step / 2, step)
        text = [_format_edge(e, step) for e in edges]
    labels = [f"< {text[0]}"]
    labels += [f"[{a}, {b})" for a, b in itertools.pairwise(text)]
    labels += [f"≥ {text[-1]}", MISSING]
    return Binning(labels=labels, kind="numeric", edges=edges)


def _categorical_binning(real: pl.Series, min_count: int) -> Binning:
    """Categories held by at least `min_count` real rows (the most frequent first), then other."""
    counts = real.drop_nulls().cast(pl.String).value_counts(sort=True, name="n")
    shown = [
        str(v)
        for v, n in zip(counts[real.name].to_list(), counts["n"].to_list(), strict=True)
        if n >= min_count
    ][:MAX_CATEGORIES]
    shown = sorted(shown) if len(shown) <= DISCRETE_MAX_VALUES else shown
    labels = [*shown, OTHER, MISSING]
    return Binning(
        labels=labels, kind="categorical", categories={v: i for i, v in enumerate(labels[:-1])}
    )


def column_binning(column: ColumnSchema, real: pl.Series, min_count: int) -> Binning:
    """Cells for one modelled column: categories for text, booleans and numbers with at most
    20 distinct values (each shown only when held by `min_count` real rows), else a numeric grid."""
    if column.type in (ColumnType.STRING, ColumnType.BOOLEAN):
        return _categorical_binning(real, min_count)
    if column.type == ColumnType.INTEGER and real.drop_nulls().n_unique() <= DISCRETE_MAX_VALUES:
        return _categorical_binning(real, min_count)
    return _numeric_binning(_as_numbers(real), column.type)


def marginal(
    column: ColumnSchema, real: pl.Series, synthetic: pl.Series | None, min_count: int
) -> tuple[Marginal, Binning]:
    """Real and synthetic counts per cell, with real cells of 1..min_count-1 rows suppressed."""
    binning = column_binning(column, real, min_count)
    size = len(binning.labels)
    real_counts = np.bincount(binning.codes(real), minlength=size)
    syn_counts = (
        np.bincount(binning.codes(synthetic), minlength=size)
        if synthetic is not None
        else np.zeros(size, dtype=np.int64)
    )
    keep = [i for i in range(size) if real_counts[i] > 0 or syn_counts[i] > 0]
    small = [i for i in keep if 0 < real_counts[i] < min_count]
    shown_real: list[int | None] = [None if i in small else int(real_counts[i]) for i in keep]
    result = Marginal(
        column=column.name,
        labels=[binning.labels[i] for i in keep],
        real=shown_real,
        synthetic=[int(syn_counts[i]) for i in keep],
        suppressed=len(small),
    )
    return result, binning


def cramers_v_matrix(codes: dict[str, np.ndarray]) -> np.ndarray:
    """Cramér's V of every column pair over their cells (scipy); 1 on the diagonal, NaN where a
    column has a single non-empty cell."""
    names = list(codes)
    size = len(names)
    matrix = np.eye(size)
    for i in range(size):
        for j in range(i + 1, size):
            a, b = codes[names[i]], codes[names[j]]
            width = int(b.max()) + 1 if b.size else 1
            table = np.bincount(a * width + b, minlength=(int(a.max()) + 1) * width)
            table = table.reshape(-1, width)
            table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
            value = float(association(table, method="cramer")) if min(table.shape) > 1 else math.nan
            matrix[i, j] = matrix[j, i] = value
    return matrix


class _Figures:
    """Turns plotly figures into divs with deterministic ids (plotly.js is embedded once)."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, figure: go.Figure, height: int = 320) -> str:
        self.count += 1
        figure.update_layout(template=_TEMPLATE, height=height)
        return figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"figure-{self.count}",
            default_height=f"{height}px",
            config={"displaylogo": False, "responsive": True},
        )


def _marginal_figure(m: Marginal) -> go.Figure:
    real_total = sum(v for v in m.real if v is not None) or 1
    syn_total = sum(m.synthetic) or 1
    figure = go.Figure(
        [
            go.Bar(
                name="real (train)",
                x=m.labels,
                y=[None if v is None else round(v / real_total, 5) for v in m.real],
                marker_color=REAL_COLOR,
            ),
            go.Bar(
                name="synthetic",
                x=m.labels,
                y=[round(v / syn_total, 5) for v in m.synthetic],
                marker_color=SYNTHETIC_COLOR,
            ),
        ]
    )
    figure.update_layout(
        title=m.column, barmode="group", yaxis_title="share of rows", xaxis_type="category"
    )
    return figure


def _heatmap(matrix: np.ndarray, names: list[str], title: str) -> go.Figure:
    z = [[None if math.isnan(v) else round(float(v), 3) for v in row] for row in matrix]
    figure = go.Figure(
        go.Heatmap(z=z, x=names, y=names, zmin=0, zmax=1, colorscale="Blues", showscale=True)
    )
    figure.update_layout(title=title, yaxis_autorange="reversed")
    return figure


def _dcr_figure(histogram: dict[str, Any]) -> go.Figure:
    edges = [float(e) for e in histogram["edges"]]
    labels = [f"{a:.3g}–{b:.3g}" for a, b in itertools.pairwise(edges)]
    figure = go.Figure(
        [
            go.Bar(name="synthetic to train", x=labels, y=histogram["to_train"]),
            go.Bar(name="synthetic to holdout", x=labels, y=histogram["to_holdout"]),
        ]
    )
    figure.data[0].marker.color = REAL_COLOR
    figure.data[1].marker.color = HOLDOUT_COLOR
    figure.update_layout(
        title="Distance to closest record (Gower)",
        barmode="group",
        xaxis_title="distance",
        yaxis_title="synthetic rows",
        xaxis_type="category",
    )
    return figure


def _risk_figure(risks: dict[str, dict[str, float]], risk_max: float | None) -> go.Figure:
    names = list(risks)
    values = [float(risks[n]["value"]) for n in names]
    figure = go.Figure(
        go.Bar(
            x=names,
            y=values,
            marker_color=SYNTHETIC_COLOR,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [float(risks[n]["high"]) - v for n, v in zip(names, values, strict=True)],
                "arrayminus": [
                    v - float(risks[n]["low"]) for n, v in zip(names, values, strict=True)
                ],
            },
        )
    )
    if risk_max is not None:
        figure.add_hline(y=risk_max, line_dash="dash", line_color="#d62728")
    figure.update_layout(
        title="Anonymeter attack risks with confidence intervals",
        yaxis_title="risk",
        yaxis_range=[0, 1],
    )
    return figure


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def metric_of(expectation: Expectation, metrics: list[str]) -> str | None:
    """The metric an expectation checks: the longest metric name its name starts with."""
    name = expectation.name
    hits = [
        m
        for m in metrics
        if name.startswith(m)
        and (len(name) == len(m) or not (name[len(m)].isalnum() or name[len(m)] == "_"))
    ]
    return max(hits, key=len) if hits else None


def _metrics_table(report: dict[str, Any], gates: list[GateResult] | None) -> str:
    scorecard: dict[str, float] = report.get("scorecard", {})
    tables = report.get("tables", [])
    names = list(scorecard)
    for table in tables:
        names += [m for m in table.get("metrics", {}) if m not in names]
    checks: dict[str, list[Expectation]] = {}
    for gate in gates or []:
        for e in gate.expectations:
            metric = metric_of(e, names)
            if metric is not None:
                checks.setdefault(metric, []).append(e)
    head = "".join(f"<th>{html.escape(t['table'])}</th>" for t in tables)
    rows = []
    for name in names:
        cells = "".join(f"<td>{_fmt(t.get('metrics', {}).get(name))}</td>" for t in tables)
        found = checks.get(name, [])
        threshold = "<br>".join(_fmt(e.threshold) for e in found) or "–"
        verdict = "<br>".join(
            '<span class="pass">pass</span>' if e.passed else '<span class="fail">FAIL</span>'
            for e in found
        )
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code></td>"
            f"<td class='note'>{html.escape(METRIC_NOTES.get(name, ''))}</td>"
            f"<td><b>{_fmt(scorecard.get(name))}</b></td>{cells}"
            f"<td>{threshold}</td><td>{verdict or '–'}</td></tr>"
        )
    return (
        "<table><tr><th>metric</th><th></th><th>dataset (worst table)</th>"
        f"{head}<th>threshold</th><th>gate</th></tr>{''.join(rows)}</table>"
    )


def _gates_section(gates: list[GateResult]) -> str:
    parts = ["<h2>Gates</h2>"]
    for gate in gates:
        verdict = "PASSED" if gate.passed else "FAILED"
        css = "pass" if gate.passed else "fail"
        rows = "".join(
            f"<tr><td>{html.escape(e.name)}</td><td>{_fmt(e.observed)}</td>"
            f"<td>{_fmt(e.threshold)}</td><td>"
            + ('<span class="pass">pass</span>' if e.passed else '<span class="fail">FAIL</span>')
            + f"</td><td class='note'>{'' if e.passed else html.escape(e.detail)}</td></tr>"
            for e in gate.expectations
        )
        parts.append(
            f"<h3>{html.escape(gate.gate)}: <span class='{css}'>{verdict}</span></h3>"
            "<table><tr><th>expectation</th><th>observed</th><th>threshold</th><th>result</th>"
            f"<th></th></tr>{rows}</table>"
        )
    return "".join(parts)


def _table_section(
    entry: dict[str, Any],
    table: TableSchema,
    train: pl.DataFrame,
    synthetic: pl.DataFrame | None,
    settings: EvaluationSettings,
    risk_max: float | None,
    figures: _Figures,
) -> str:
    min_count = settings.plot_min_count
    columns = [c for c in table.modelled_columns if c.name in train.columns]
    parts = [
        f"<h2>Table <code>{html.escape(table.name)}</code></h2>",
        f"<p>{_fmt(entry.get('train_rows'))} train rows, {_fmt(entry.get('holdout_rows'))} "
        f"holdout rows, {_fmt(entry.get('synthetic_rows'))} synthetic rows.</p>",
        "<h3>Column distributions: real (train) vs synthetic</h3><div class='grid'>",
    ]
    real_codes: dict[str, np.ndarray] = {}
    syn_codes: dict[str, np.ndarray] = {}
    suppressed: dict[str, int] = {}
    absent: list[str] = []
    for column in columns:
        syn = synthetic[column.name] if synthetic is not None and column.name in synthetic else None
        if syn is None:
            absent.append(column.name)
        m, binning = marginal(column, train[column.name], syn, min_count)
        if m.suppressed:
            suppressed[column.name] = m.suppressed
        parts.append(f"<div>{figures.div(_marginal_figure(m))}</div>")
        real_codes[column.name] = binning.codes(train[column.name])
        if syn is not None:
            syn_codes[column.name] = binning.codes(syn)
    parts.append("</div>")
    notes = [
        f"Real-data bins and categories with fewer than {min_count} rows are not drawn "
        "(suppressed); bin edges lie on a rounded grid between the 1 % and 99 % quantiles and "
        "the outermost bins are open, so no minimum or maximum of a real column is shown."
    ]
    if suppressed:
        notes.append(
            "Suppressed real cells: "
            + ", ".join(f"<code>{html.escape(c)}</code> {n}" for c, n in suppressed.items())
            + "."
        )
    if absent:
        notes.append(
            "Missing from the synthetic table: "
            + ", ".join(f"<code>{html.escape(c)}</code>" for c in absent)
            + "."
        )
    parts.append("<p class='note'>" + " ".join(notes) + "</p>")
    if len(real_codes) >= 2:
        names = list(real_codes)
        parts.append(
            "<h3>Associations between columns</h3><p class='note'>Cramér's V (0 = independent, "
            "1 = determined) over the cells above, for every pair of columns: one measure for "
            "numbers, dates and categories alike.</p><div class='grid2'>"
        )
        real_map = _heatmap(cramers_v_matrix(real_codes), names, "real (train)")
        parts.append(f"<div>{figures.div(real_map, 440)}</div>")
        if set(syn_codes) == set(names):
            syn_map = _heatmap(cramers_v_matrix(syn_codes), names, "synthetic")
            parts.append(f"<div>{figures.div(syn_map, 440)}</div>")
        parts.append("</div>")
    privacy = []
    if entry.get("dcr_histogram"):
        privacy.append(f"<div>{figures.div(_dcr_figure(entry['dcr_histogram']))}</div>")
    if entry.get("risks"):
        privacy.append(f"<div>{figures.div(_risk_figure(entry['risks'], risk_max))}</div>")
    if privacy:
        parts.append(
            "<h3>Privacy</h3><p class='note'>A private generator puts its synthetic rows as close "
            "to the holdout rows as to the train rows; risk bars show Anonymeter's estimate and "
            "its confidence interval"
            + (", the dashed line the gate's maximum" if risk_max is not None else "")
            + ".</p><div class='grid2'>"
            + "".join(privacy)
            + "</div>"
        )
    return "".join(parts)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1300px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
.note{color:#666;font-size:.9em}.pass{color:#2a7d2a;font-weight:600}
.fail{color:#c0392b;font-weight:700}.grid{display:grid;grid-template-columns:repeat(auto-fill,
minmax(400px,1fr));gap:.5em}.grid2{display:grid;grid-template-columns:1fr 1fr;gap:.5em}
"""


def render_report_html(
    report: dict[str, Any],
    schema: DatasetSchema,
    train: dict[str, pl.DataFrame],
    synthetic: dict[str, pl.DataFrame],
    settings: EvaluationSettings,
    gates: list[GateResult] | None = None,
) -> str:
    """One self-contained HTML page (no network access needed) of the quality report: verdict,
    metrics against thresholds, and per table the marginals, association matrices, DCR
    histogram and Anonymeter risks. It shows no individual's value of the real data (see the
    module docstring for how) and never plots a key or identifier column."""
    figures = _Figures()
    verdict = (
        "not gated" if gates is None else ("PASSED" if all(g.passed for g in gates) else "FAILED")
    )
    css = {"PASSED": "pass", "FAILED": "fail"}.get(verdict, "note")
    risk_max = _risk_threshold(gates)
    dataset = str(report.get("dataset", schema.name))
    generator = str(report.get("generator", ""))
    body = [
        f"<h1>Quality report: <code>{html.escape(dataset)}</code>"
        + (f" by <code>{html.escape(generator)}</code>" if generator else "")
        + "</h1>",
        f"<p>Verdict: <span class='{css}' id='verdict'>{verdict}</span></p>",
        "<h2>Metrics</h2>",
        _metrics_table(report, gates),
    ]
    if gates:
        body.append(_gates_section(gates))
    entries = {t["table"]: t for t in report.get("tables", [])}
    for table in schema.tables:
        if table.name not in train:
            continue
        body.append(
            _table_section(
                entries.get(table.name, {}),
                table,
                train[table.name],
                synthetic.get(table.name),
                settings,
                risk_max,
                figures,
            )
        )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Quality report: {html.escape(dataset)}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{''.join(body)}</body></html>"
    )


def _risk_threshold(gates: list[GateResult] | None) -> float | None:
    """The threshold of the first risk expectation, to draw as a line on the risk chart."""
    for gate in gates or []:
        for e in gate.expectations:
            if "risk" in e.name and isinstance(e.threshold, int | float):
                return float(e.threshold)
    return None
