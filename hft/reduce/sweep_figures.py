"""Plotly figures of sweeps: Optuna's own plots of each study (history, importance, contour, slice,
parallel coordinates, Pareto front), parameter heatmaps for every strategy (colours diverging at
zero) and the walk-forward in-sample vs out-of-sample chart per fold.

Studies are read from the sweep's storage without writing to it: SQLite is opened read-only
(`mode=ro`), a journal file is only read."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from hft.reduce.figures import TEMPLATE
from hft.tables import label

__all__ = [
    "StudyFigures",
    "study_figures",
    "param_heatmap",
    "pbo_logit_figure",
    "walkforward_figure",
    "MAX_STUDIES",
]

MAX_STUDIES = 8  # studies plotted per report (the rest are named in a note)


@dataclass
class StudyFigures:
    storage: str  # the file it came from
    study: str
    trials: int
    figures: list[tuple[str, go.Figure]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read_only(path: str):
    """An Optuna storage over `path` that never writes: SQLite as a read-only URI, or a journal."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    p = Path(path)
    if p.suffix == ".db":
        url = f"sqlite:///file:{p.resolve()}?mode=ro&uri=true"
        return optuna.storages.RDBStorage(url, skip_table_creation=True, skip_compatibility_check=True)
    return JournalStorage(JournalFileBackend(str(p)))


def study_figures(optuna_files: list[str], notes: list[str]) -> list[StudyFigures]:
    """Optuna's plots for every study (at most MAX_STUDIES) in the sweeps' storage files."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out: list[StudyFigures] = []
    left: list[str] = []
    for path in optuna_files:
        try:
            storage = _read_only(path)
            summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
        except Exception as exc:  # a broken or foreign file: say which and go on
            notes.append(f"Optuna plots left out for {path}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        for s in summaries:
            if len(out) >= MAX_STUDIES:
                left.append(s.study_name)
                continue
            out.append(_one_study(storage, path, s.study_name, _objective_names(path)))
    if left:
        notes.append(f"Optuna plots of {len(left)} more studies left out: {', '.join(left[:10])}")
    return out


def _objective_names(path: str) -> list[str]:
    """The sweep's objective metrics from `sweep.yaml` beside its storage (Optuna keeps no names)."""
    import yaml

    try:
        doc = yaml.safe_load((Path(path).parent / "sweep.yaml").read_text())
        return [str(o["metric"]) for o in doc["spec"]["objectives"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []


def _one_study(storage, path: str, name: str, objectives: list[str]) -> StudyFigures:
    import optuna
    import optuna.visualization as ov

    study = optuna.load_study(study_name=name, storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    sf = StudyFigures(path, name, len(done))
    if len(done) < 2:
        sf.notes.append(f"{len(done)} completed trial(s): nothing to plot")
        return sf
    multi = len(study.directions) > 1
    names = study.metric_names or objectives
    if len(names) != len(study.directions):
        names = [f"objective {i}" for i in range(len(study.directions))]
    names = [label(n) for n in names]
    kw = dict(target=lambda t: t.values[0], target_name=names[0]) if multi else dict(target_name=names[0])
    params = sorted({p for t in done for p in t.params})
    plots = [("history", lambda: ov.plot_optimization_history(study, **kw))]
    if params:
        plots.append(("importance", lambda: ov.plot_param_importances(study, **kw)))
        plots.append(("slice", lambda: ov.plot_slice(study, **kw)))
        plots.append(("parallel", lambda: ov.plot_parallel_coordinate(study, **kw)))
    if len(params) >= 2:
        top = params[:2] if len(params) == 2 else params[:3]
        plots.append(("contour", lambda: ov.plot_contour(study, params=top, **kw)))
    if multi:
        plots.append(("pareto", lambda: ov.plot_pareto_front(study, target_names=names)))
    for kind, make in plots:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # experimental-feature warnings
                fig = make()
        except Exception as exc:  # e.g. importance needs variance; say so instead of failing the page
            sf.notes.append(f"{kind} plot left out: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        fig.update_layout(template=TEMPLATE, title=f"{fig.layout.title.text or kind} · {name}", height=380)
        sf.figures.append((kind, fig))
    return sf


def param_heatmap(grid: dict, by: str) -> go.Figure:
    """Mean `by` over two parameters of one strategy; the colour scale diverges at zero."""
    z = [[None if v is None else float(v) for v in row] for row in grid["z"]]
    text = [
        [
            f"{grid['x']}={xl}, {grid['y']}={yl}: mean {by} {'' if v is None else f'{v:,.4g}'} "
            f"over {n} run(s)"
            for xl, v, n in zip(grid["x_labels"], zr, nr, strict=True)
        ]
        for yl, zr, nr in zip(grid["y_labels"], z, grid["n"], strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(v) for v in grid["x_labels"]],
            y=[str(v) for v in grid["y_labels"]],
            text=text,
            hovertemplate="%{text}<extra></extra>",
            colorscale="RdBu",
            zmid=0,
            colorbar=dict(title=label(by)),
            xgap=1,
            ygap=1,
        )
    )
    fig.update_xaxes(type="category", title=grid["x"], tickangle=-30, automargin=True)
    fig.update_yaxes(type="category", title=grid["y"], automargin=True)
    fig.update_layout(
        template=TEMPLATE,
        title=dict(text=f"{grid['strategy']}: mean {label(by)}", font_size=13),
        height=400,
        hovermode="closest",
    )
    return fig


def pbo_logit_figure(windows: list[dict], group: str) -> go.Figure | None:
    """Histogram of the CSCV logits of one sweep (one trace per window): PBO is the share at or left
    of 0, where the in-sample best ranks at or below the out-of-sample median. None without logits."""
    fig = go.Figure()
    for w in windows:
        h = w.get("pbo_logits") or {}
        edges, counts = h.get("hist_edges"), h.get("hist_counts")
        if w.get("group") != group or not edges or not counts:
            continue
        centers = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        where = w.get("phase") + ("" if w.get("fold") is None else f" fold {w['fold']}")
        fig.add_trace(
            go.Bar(
                x=centers,
                y=counts,
                width=[b - a for a, b in itertools.pairwise(edges)],
                name=f"{where}: PBO {w.get('pbo'):.2f}" if w.get("pbo") is not None else where,
                opacity=0.6,
                hovertemplate="logit %{x:.2f}: %{y} splits<extra></extra>",
            )
        )
    if not fig.data:
        return None
    fig.add_vline(x=0, line_dash="dash", annotation_text="OOS median")
    fig.update_layout(
        template=TEMPLATE,
        barmode="overlay",
        height=320,
        hovermode="closest",
        title=f"{group}: logit of the in-sample best's out-of-sample rank per CSCV split (≤ 0: overfit)",
        xaxis_title="logit(relative OOS rank)",
        yaxis_title="splits",
    )
    return fig


def walkforward_figure(wf: pl.DataFrame, sweep: str) -> go.Figure | None:
    """Per fold, each objective in sample (train window) next to out of sample (test window)."""
    sub = wf.filter(pl.col("sweep") == sweep).sort("fold")
    metrics = [
        c.removeprefix("train_")
        for c in sub.columns
        if c.startswith("train_")
        and c not in ("train_start", "train_end")
        and c.removeprefix("train_") in sub.columns
    ]
    if sub.is_empty() or not metrics:
        return None
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[label(m) for m in metrics])
    x = [f"fold {f}<br>test {s}" for f, s in zip(sub["fold"], sub["test_start"], strict=True)]
    for j, m in enumerate(metrics, start=1):
        for col, name, color in (
            (f"train_{m}", "in sample (train)", "#9ecae1"),
            (m, "out of sample (test)", "#08519c"),
        ):
            fig.add_trace(
                go.Bar(
                    x=x,
                    y=sub[col].cast(pl.Float64).to_numpy(),
                    name=name,
                    marker_color=color,
                    legendgroup=name,
                    showlegend=j == 1,
                    hovertemplate=f"%{{x}}: %{{y:,.4g}}<extra>{name}</extra>",
                ),
                row=1,
                col=j,
            )
    fig.update_layout(
        template=TEMPLATE,
        barmode="group",
        height=360,
        hovermode="closest",
        title=f"Walk-forward {sweep}: in sample vs out of sample per fold",
    )
    return fig
