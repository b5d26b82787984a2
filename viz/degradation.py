"""Figures of a depth sweep (a SweepView): Fig. 1/6 (error against iterations and depth), Fig. 7 (responses)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from viz.sweepview import DepthResult, ErrorCurve, ResponseCurve
from viz.theme import styled, twin_color

PANEL_TITLES = {False: "Plain networks", True: "ResNets"}


def _mix(hex_color: str, amount: float) -> str:
    """`hex_color` blended towards white by `amount` (0: unchanged, 1: white)."""
    rgb = [int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]
    r, g, b = (round(c + (255 - c) * amount) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def depth_color(residual: bool, depth: int, depths: Sequence[int]) -> str:
    """The twin colour, lighter for shallower nets: the deepest net gets the full colour."""
    ranks = sorted(set(depths))
    if depth not in ranks or len(ranks) == 1:
        return twin_color(residual)
    return _mix(twin_color(residual), 0.6 * (len(ranks) - 1 - ranks.index(depth)) / (len(ranks) - 1))


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` points (fewer at the start), same length as `values`."""
    v = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(v) == 0:
        return v
    csum = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (csum[idx] - csum[lo]) / (idx - lo)


def smoothing_window(n_points: int) -> int:
    """Points per running mean of a batch-error curve: 5% of the curve (a batch's error is noisy)."""
    return max(1, n_points // 20)


def seed_band(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """(x, mean, min, max) over seeds of curves `ys` against `xs`, on the x of the sparsest curve.

    Each seed's curve is interpolated there, up to where the shortest run ends (never extrapolated).
    """
    pairs = [(np.asarray(x, np.float64), np.asarray(y, np.float64)) for x, y in zip(xs, ys, strict=True) if len(x)]
    if not pairs:  # no run has a point yet (a test error comes every test_every steps)
        return (np.zeros(0),) * 4
    ref = min((x for x, _ in pairs), key=len)
    x = ref[ref <= min(float(xi.max()) for xi, _ in pairs)]
    stack = np.stack([np.interp(x, xi, yi) for xi, yi in pairs])  # (seeds, points)
    return x, stack.mean(axis=0), stack.min(axis=0), stack.max(axis=0)


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def band_traces(x, lo, hi, *, color: str, name: str, group: str, showlegend: bool = True) -> list[go.Scatter]:
    """A shaded band between `lo` and `hi`: an invisible lower edge, then the upper edge filled down to it."""
    edge = dict(mode="lines", line=dict(width=0, color=color), legendgroup=group, hoverinfo="skip")
    return [go.Scatter(x=x, y=lo, name=f"{name} (lower)", showlegend=False, **edge),
            go.Scatter(x=x, y=hi, name=name, fill="tonexty", fillcolor=_rgba(color, 0.18), showlegend=showlegend,
                       **edge)]


def _by_net(items: Sequence, key=lambda c: (c.residual, c.depth)) -> dict[tuple, list]:
    """Items grouped by (residual, depth), plain before residual, shallow to deep."""
    groups: dict[tuple, list] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return dict(sorted(groups.items()))


def _seeds_label(n: int) -> str:
    return f"min–max of {n} seeds"


def error_curves_figure(curves: Sequence[ErrorCurve], *, height: int = 520) -> go.Figure:
    """Fig. 1/6: training error (dashed, running mean) and test error (bold) against iterations.

    Plain nets in the left panel, ResNets in the right, one colour shade per depth, one y scale.
    A net trained with several seeds is drawn as its mean over the seeds, in a min-max band.
    """
    depths = [c.depth for c in curves]
    panels = [r for r in (False, True) if any(c.residual == r for c in curves)] or [False, True]
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[PANEL_TITLES[r] for r in panels])
    window = 1
    for (residual, depth), seeds in _by_net(curves).items():
        col = panels.index(residual) + 1
        color = depth_color(residual, depth, depths)
        label = seeds[0].label
        smooth = []
        for c in seeds:
            w = smoothing_window(len(c.steps))
            window = max(window, w)
            smooth.append(100 * running_mean(c.train_error, w))
        x, train, train_lo, train_hi = seed_band([c.steps for c in seeds], smooth)
        tx, test, test_lo, test_hi = seed_band([c.test_steps for c in seeds],
                                               [100 * np.asarray(c.test_error, np.float64) for c in seeds])
        several = len(seeds) > 1
        if several:
            spread = _seeds_label(len(seeds))
            for trace in (band_traces(x, train_lo, train_hi, color=color, name=f"{label} train {spread}",
                                      group=label, showlegend=False)
                          + band_traces(tx, test_lo, test_hi, color=color, name=f"{label} {spread}", group=label)):
                fig.add_trace(trace, row=1, col=col)
        mean = f" mean of {len(seeds)} seeds" if several else ""
        fig.add_trace(go.Scatter(
            x=x, y=train, mode="lines", name=f"{label} train", legendgroup=label, showlegend=False,
            line=dict(color=color, width=2, dash="dash"),
            hovertemplate=f"{label}<br>iteration %{{x:.0f}}<br>training error{mean} %{{y:.1f}}%<extra></extra>",
        ), row=1, col=col)
        fig.add_trace(go.Scatter(
            x=tx, y=test, mode="lines+markers", name=label + (f" ({mean.strip()})" if several else ""),
            legendgroup=label, line=dict(color=color, width=4), marker=dict(size=7),
            hovertemplate=f"{label}<br>iteration %{{x:.0f}}<br>test error{mean} %{{y:.1f}}%<extra></extra>",
        ), row=1, col=col)
    fig.update_xaxes(title_text="iterations")
    fig.update_yaxes(title_text="error (%)", rangemode="tozero", row=1, col=1)
    fig.update_layout(legend=dict(orientation="h", y=-0.18, yanchor="top", x=0.5, xanchor="center"),
                      title_subtitle_text=("dashed: training error (per batch) · " if window == 1 else
                                           f"dashed: training error (running mean of {window} batches) · ")
                      + "bold: test error")
    return _with_subtitle(styled(fig, title="Error during training (He et al. 2015, Fig. 1 and 6)",
                                 height=height))


def _with_subtitle(fig: go.Figure) -> go.Figure:
    """Room above the plot for the title, its subtitle and the panel titles."""
    return fig.update_layout(margin=dict(t=120), title=dict(y=0.97, yref="container", yanchor="top",
                                                            subtitle=dict(font=dict(size=14, color="#555"))))


def error_vs_depth_figure(results: Sequence[DepthResult], *, height: int = 460) -> go.Figure:
    """Final training (dashed) and test (bold) error against depth; over several seeds, the mean in a min-max band."""
    fig = go.Figure()
    depths = sorted({r.depth for r in results})
    for residual in (False, True):
        mine = [r for r in results if r.residual == residual]
        if not mine:
            continue
        name = "ResNet" if residual else "plain"
        for kind, dash, width in (("train", "dash", 2), ("test", "solid", 4)):
            xs, means, lows, highs, counts = [], [], [], [], []
            for d in depths:
                vals = [r.train_error if kind == "train" else r.test_error for r in mine if r.depth == d]
                vals = [100 * v for v in vals if v is not None and np.isfinite(v)]
                if vals:
                    xs.append(d)
                    means.append(float(np.mean(vals)))
                    lows.append(min(vals))
                    highs.append(max(vals))
                    counts.append(len(vals))
            if not xs:
                continue
            if max(counts) > 1:
                for trace in band_traces(xs, lows, highs, color=twin_color(residual), group=f"{name} {kind}",
                                         name=f"{name} {kind} {_seeds_label(max(counts))}"):
                    fig.add_trace(trace)
            fig.add_trace(go.Scatter(
                x=xs, y=means, mode="lines+markers", name=f"{name} {kind}", legendgroup=f"{name} {kind}",
                line=dict(color=twin_color(residual), width=width, dash=dash), marker=dict(size=10),
                customdata=counts,
                hovertemplate=f"{name}-%{{x}}<br>{kind} error %{{y:.2f}}% (mean of %{{customdata}})<extra></extra>",
            ))
    fig.update_xaxes(title_text="depth (layers)", tickvals=depths, type="linear")
    fig.update_yaxes(title_text="final error (%)", rangemode="tozero")
    fig.update_layout(title_subtitle_text="training error: mean of the last 10% of iterations · "
                                          "test error: last evaluation")
    return _with_subtitle(styled(fig, title="Final error against depth", height=height))


def response_std_figure(curves: Sequence[ResponseCurve], *, height: int = 480) -> go.Figure:
    """Fig. 7: std of each layer's response, in layer order (left) and sorted by magnitude (right).

    A net trained with several seeds is drawn as its mean over the seeds, in a min-max band
    (sorted: each seed's responses sorted first, then compared rank by rank).
    """
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.05,
                        subplot_titles=["in layer order", "sorted by magnitude"])
    depths = [c.depth for c in curves]
    for (residual, depth), seeds in _by_net(curves).items():
        color = depth_color(residual, depth, depths)
        label = seeds[0].label
        n = min(len(c.std) for c in seeds)
        stds = np.stack([np.asarray(c.std, dtype=np.float64)[:n] for c in seeds])  # (seeds, L)
        layer = np.arange(1, n + 1)
        for col, y in ((1, stds), (2, -np.sort(-stds, axis=1))):
            if len(seeds) > 1:
                for trace in band_traces(layer, y.min(axis=0), y.max(axis=0), color=color, group=label,
                                         name=f"{label} {_seeds_label(len(seeds))}", showlegend=col == 1):
                    fig.add_trace(trace, row=1, col=col)
            fig.add_trace(go.Scatter(
                x=layer, y=y.mean(axis=0), mode="lines", legendgroup=label, showlegend=col == 1,
                name=label + (f" (mean of {len(seeds)} seeds)" if len(seeds) > 1 else ""),
                line=dict(color=color, width=3, dash="solid" if residual else "dash"),
                hovertemplate=f"{label}<br>layer %{{x}}<br>std %{{y:.3f}}<extra></extra>",
            ), row=1, col=col)
    fig.update_xaxes(title_text="layer index (input → output)", row=1, col=1)
    fig.update_xaxes(title_text="layer index (sorted by magnitude)", row=1, col=2)
    fig.update_yaxes(title_text="std of the response", rangemode="tozero", row=1, col=1)
    fig.update_layout(title_subtitle_text="each 3x3 layer's response after BN, before the addition and ReLU, "
                                          "on 500 test images · dashed: plain, solid: ResNet")
    return _with_subtitle(styled(fig, title="Layer responses (He et al. 2015, Fig. 7)", height=height))


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _by_depth(results: Sequence[DepthResult], residual: bool) -> dict[int, float]:
    """Mean final training error per depth (over seeds) of the plain or residual nets."""
    out: dict[int, list[float]] = {}
    for r in results:
        if r.residual == residual and np.isfinite(r.train_error):
            out.setdefault(r.depth, []).append(r.train_error)
    return {d: float(np.mean(v)) for d, v in sorted(out.items())}


def _compare(deep: float, shallow: float, margin: float) -> int:
    """+1 if `deep` is clearly above `shallow` (by `margin` and by half again), -1 if clearly below, else 0."""
    if deep > shallow + margin and deep > 1.5 * shallow:
        return 1
    if shallow > deep + margin and shallow > 1.5 * deep:
        return -1
    return 0


def degradation_text(results: Sequence[DepthResult], *, margin: float = 0.03) -> list[str]:
    """Sentences that say what the final training errors show (degradation or not), with the numbers.

    A difference counts only when it is clear: `margin` in absolute error and a factor of 1.5.
    """
    lines = []
    plain, res = _by_depth(results, False), _by_depth(results, True)
    for residual, errs in ((False, plain), (True, res)):
        if len(errs) < 2:
            continue
        name = "ResNet" if residual else "plain"
        (d0, e0), (d1, e1) = next(iter(errs.items())), list(errs.items())[-1]
        nums = f"{name}-{d1} ends at {_pct(e1)} training error, {name}-{d0} at {_pct(e0)}."
        verdict = {
            (False, 1): "The deeper plain net fits its training data worse: degradation, as in Fig. 1.",
            (False, -1): "The deeper plain net is better here: no degradation in this run.",
            (False, 0): "Too close to call: no clear degradation in this run.",
            (True, 1): "The deeper ResNet is worse here, unlike the paper's.",
            (True, -1): "The deeper ResNet is better, as the paper's are.",
            (True, 0): "The deeper ResNet is no worse: depth does not hurt it.",
        }[(residual, _compare(e1, e0, margin))]
        lines.append(f"{nums} {verdict}")
    common = sorted(set(plain) & set(res))
    if common:
        d = common[-1]
        rel = {1: "clearly above", -1: "clearly below", 0: "close to"}[_compare(res[d], plain[d], margin)]
        lines.append(f"At depth {d} the ResNet's training error ({_pct(res[d])}) is {rel} the plain net's "
                     f"({_pct(plain[d])}).")
    return lines


def gradient_text(label: str, first_over_last: float) -> str:
    """What the backward signal of a plain net did, measured: dL/dx at its first block over its last."""
    if not np.isfinite(first_over_last) or first_over_last <= 0:
        return f"No gradient record of {label} to judge its backward signal."
    measured = (f"In {label}, dL/dx at the first block is {first_over_last:.3g}× its size at the last block "
                "(median over training)")
    if first_over_last >= 0.1:
        return (measured + ": the backward signal does not vanish. He et al. say the same of their BN-plain "
                "nets: the optimisation difficulty is unlikely to be caused by vanishing gradients; they "
                "conjecture deep plain nets converge exponentially slowly.")
    if first_over_last >= 1e-3:
        return measured + ": the backward signal shrinks towards the input, but by less than three decades."
    return measured + ": the backward signal vanishes towards the input in this net."


def responses_text(curves: Sequence[ResponseCurve], *, margin: float = 0.05) -> list[str]:
    """Sentences comparing mean response std (over layers and seeds): ResNet vs plain at each depth, deeper ResNets."""
    mean = {key: float(np.mean([np.mean(c.std) for c in seeds]))  # over layers, then over seeds
            for key, seeds in _by_net([c for c in curves if len(c.std)]).items()}
    lines = []
    for d in sorted({d for _, d in mean}):
        if (False, d) in mean and (True, d) in mean:
            p, r = mean[(False, d)], mean[(True, d)]
            rel = "smaller than" if r < p * (1 - margin) else ("larger than" if r > p * (1 + margin) else "close to")
            tail = ", as in Fig. 7" if rel == "smaller than" else ", unlike Fig. 7"
            lines.append(f"Depth {d}: the ResNet's responses (mean std {r:.2f}) are {rel} the plain net's "
                         f"({p:.2f}){tail}.")
    res = sorted((d, v) for (residual, d), v in mean.items() if residual)
    if len(res) >= 2:
        first, last = res[0][1], res[-1][1]
        if all(b < a * (1 - margin) for (_, a), (_, b) in zip(res, res[1:], strict=False)):
            verdict = "have smaller responses still"
        elif last < first * (1 - margin):
            verdict = "have smaller responses overall, though not clearly at every depth"
        elif last > first * (1 + margin):
            verdict = "have larger responses here, unlike Fig. 7"
        else:
            verdict = "do not have smaller responses here"
        series = ", ".join(f"ResNet-{d} {v:.2f}" for d, v in res)
        lines.append(f"Deeper ResNets {verdict} ({series}).")
    return lines
