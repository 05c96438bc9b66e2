"""The quality report as one self-contained HTML page, safe to release next to the data.

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

Cells and their suppression are computed in anon_platform/evaluation/marginals.py; this module
lays them out with the metrics and the gates' verdicts.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import polars as pl
from plotly.offline import get_plotlyjs

from anon_platform.catalog.schema import DatasetSchema, TableSchema
from anon_platform.catalog.specs import EvaluationSettings
from anon_platform.evaluation import QualityReport
from anon_platform.evaluation.marginals import cramers_v_matrix, marginal
from anon_platform.evaluation.metrics import describe
from anon_platform.gates.results import Expectation, GateResult
from anon_platform.html_report.figures import (
    Figures,
    dcr_figure,
    heatmap,
    marginal_figure,
    risk_figure,
    roc_figure,
)


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
        reference = "<br>".join(_fmt(e.reference) for e in found) or "–"
        band = "<br>".join(_fmt(e.band) for e in found) or "–"
        verdict = "<br>".join(
            '<span class="pass">pass</span>' if e.passed else '<span class="fail">FAIL</span>'
            for e in found
        )
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code></td>"
            f"<td class='note'>{html.escape(describe(name))}</td>"
            f"<td><b>{_fmt(scorecard.get(name))}</b></td>{cells}"
            f"<td>{reference}</td><td>{band}</td><td>{threshold}</td><td>{verdict or '–'}</td></tr>"
        )
    return (
        "<table><tr><th>metric</th><th></th><th>dataset (worst table)</th>"
        f"{head}<th>real-data reference</th><th>band</th><th>threshold</th><th>gate</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _gates_section(gates: list[GateResult]) -> str:
    parts = ["<h2>Gates</h2>"]
    for gate in gates:
        verdict = "PASSED" if gate.passed else "FAILED"
        css = "pass" if gate.passed else "fail"
        rows = "".join(
            f"<tr><td>{html.escape(e.name)}</td><td>{_fmt(e.observed)}</td>"
            f"<td>{_fmt(e.reference)}</td><td>{_fmt(e.band)}</td><td>{_fmt(e.threshold)}</td><td>"
            + ('<span class="pass">pass</span>' if e.passed else '<span class="fail">FAIL</span>')
            + f"</td><td class='note'>{'' if e.passed else html.escape(e.detail)}</td></tr>"
            for e in gate.expectations
        )
        parts.append(
            f"<h3>{html.escape(gate.gate)}: <span class='{css}'>{verdict}</span></h3>"
            "<table><tr><th>expectation</th><th>observed</th><th>reference</th><th>band</th>"
            "<th>threshold</th><th>result</th>"
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
    figures: Figures,
    membership: dict[str, Any] | None = None,
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
        parts.append(f"<div>{figures.div(marginal_figure(m))}</div>")
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
        real_map = heatmap(cramers_v_matrix(real_codes), names, "real (train)")
        parts.append(f"<div>{figures.div(real_map, 440)}</div>")
        if set(syn_codes) == set(names):
            syn_map = heatmap(cramers_v_matrix(syn_codes), names, "synthetic")
            parts.append(f"<div>{figures.div(syn_map, 440)}</div>")
        parts.append("</div>")
    privacy = []
    if entry.get("dcr_histogram"):
        privacy.append(f"<div>{figures.div(dcr_figure(entry['dcr_histogram']))}</div>")
    if entry.get("risks"):
        privacy.append(f"<div>{figures.div(risk_figure(entry['risks'], risk_max))}</div>")
    if membership and membership.get("roc"):
        privacy.append(f"<div>{figures.div(roc_figure(membership))}</div>")
    if privacy:
        parts.append(
            "<h3>Privacy</h3><p class='note'>A private generator puts its synthetic rows as close "
            "to the holdout rows as to the train rows; risk bars show Anonymeter's estimate and "
            "its confidence interval"
            + (", the dashed line the gate's maximum" if risk_max is not None else "")
            + "; the membership attack's ROC curve stays on the chance line when the synthetic "
            "table says nothing about who trained it (aggregate points only, no record's score)"
            ".</p><div class='grid2'>" + "".join(privacy) + "</div>"
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
    quality_report: QualityReport | dict[str, Any],
    schema: DatasetSchema,
    train: dict[str, pl.DataFrame],
    synthetic: dict[str, pl.DataFrame],
    settings: EvaluationSettings,
    gates: list[GateResult] | None = None,
) -> str:
    """One self-contained HTML page (no network access needed) of the quality report: verdict,
    metrics against thresholds, and per table the marginals, association matrices, DCR
    histogram and Anonymeter risks. It shows no individual's value of the real data (see the
    module docstring for how) and never plots a key or identifier column. A dict is read
    through QualityReport (report.json as stored)."""
    report = QualityReport.model_validate(quality_report).to_json()
    figures = Figures()
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
                (report.get("membership") or {}).get(table.name),
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
