"""The charts of the HTML quality report (plotly), from aggregated counts only."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from anon_platform.evaluation.marginals import Marginal

REAL_COLOR = "#1f77b4"
SYNTHETIC_COLOR = "#ff7f0e"
HOLDOUT_COLOR = "#2ca02c"

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


class Figures:
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


def marginal_figure(m: Marginal) -> go.Figure:
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


def heatmap(matrix: np.ndarray, names: list[str], title: str) -> go.Figure:
    z = [[None if math.isnan(v) else round(float(v), 3) for v in row] for row in matrix]
    figure = go.Figure(
        go.Heatmap(z=z, x=names, y=names, zmin=0, zmax=1, colorscale="Blues", showscale=True)
    )
    figure.update_layout(title=title, yaxis_autorange="reversed")
    return figure


def dcr_figure(histogram: dict[str, Any]) -> go.Figure:
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


def risk_figure(risks: dict[str, dict[str, float]], risk_max: float | None) -> go.Figure:
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


def roc_figure(attack: dict[str, Any]) -> go.Figure:
    """The density-ratio membership attack's ROC curves (all candidates and the outliers) as
    the report stores them: aggregate points on a fixed FPR grid, log FPR axis (the low-FPR
    region is where an attack on individuals shows), and the chance line TPR = FPR."""
    figure = go.Figure()
    curves = (("all candidates", attack.get("roc"), SYNTHETIC_COLOR), ("outliers",
              attack.get("outlier_roc"), REAL_COLOR))  # fmt: skip
    for name, curve, color in curves:
        if curve and curve.get("fpr"):
            figure.add_trace(
                go.Scatter(
                    x=curve["fpr"],
                    y=curve["tpr"],
                    mode="lines+markers",
                    name=name,
                    line={"color": color},
                )
            )
    grid = (attack.get("roc") or {}).get("fpr") or [0.001, 1.0]
    figure.add_trace(
        go.Scatter(
            x=grid,
            y=grid,
            mode="lines",
            name="chance (learned nothing)",
            line={"dash": "dash", "color": "#999"},
        )
    )
    figure.update_layout(
        title="Membership attack ROC (density ratio; training vs holdout records)",
        xaxis_title="false positive rate (log)",
        yaxis_title="true positive rate",
        xaxis_type="log",
        yaxis_range=[0, 1],
    )
    return figure
