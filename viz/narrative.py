"""Sentences about what is on screen, computed from the numbers on screen (never canned claims)."""

from __future__ import annotations

import math


def _times(x: float) -> str:
    """A ratio in words-friendly form: 3.2x, 1.5e+04x, 1e-11x."""
    if not math.isfinite(x):
        return "an undefined multiple"
    return f"{x:.2g}×" if 1e-2 <= x < 1e4 else f"{x:.0e}×"


def flow_verdict(ratio: float) -> str:
    """One word for a first/last block gradient ratio: vanishing, shrinking, preserved, growing, exploding."""
    if not math.isfinite(ratio) or ratio <= 0:
        return "undefined"
    if ratio < 1e-3:
        return "vanishing"
    if ratio < 0.1:
        return "shrinking"
    if ratio <= 10:
        return "preserved"
    if ratio <= 1e3:
        return "growing"
    return "exploding"


def describe_twin(label: str, ratio: float) -> str:
    """A sentence on one net's first/last block gradient ratio."""
    verdict = flow_verdict(ratio)
    if verdict == "undefined":
        return f"The {label} net has no gradient ratio yet (a zero or non-finite norm)."
    size = f"the first block's gradient is {_times(ratio)} the last block's"
    return {
        "vanishing": f"In the {label} net the gradient vanishes on its way back: {size}.",
        "shrinking": f"In the {label} net the gradient shrinks on its way back: {size}.",
        "preserved": f"In the {label} net the gradient keeps its size from output to input: {size}.",
        "growing": f"In the {label} net the gradient grows on its way back: {size}.",
        "exploding": f"In the {label} net the gradient explodes on its way back: {size}.",
    }[verdict]


def describe_twins(plain_ratio: float, residual_ratio: float, *, norm: str,
                   residual_act_growth: float | None = None) -> list[str]:
    """The page's sentences for the twins at the current step, true to the numbers given."""
    lines = [describe_twin("plain", plain_ratio), describe_twin("residual", residual_ratio)]
    if norm == "batch" and flow_verdict(plain_ratio) in ("growing", "exploding"):
        lines.append("With batch normalisation the plain net's gradients do not vanish; they grow towards the "
                     "input (Yang et al. 2019). He et al. found plain nets' trouble 'unlikely to be caused by "
                     "vanishing gradients': it is an optimisation difficulty, not a missing signal.")
    elif norm == "batch" and flow_verdict(plain_ratio) == "preserved":
        lines.append("With batch normalisation both nets keep healthy gradients here: any gap in their training "
                     "error is not explained by vanishing gradients.")
    if flow_verdict(plain_ratio) == "vanishing" and flow_verdict(residual_ratio) == "preserved":
        lines.append("The identity shortcut passes dL/dy straight through: dL/dx = dL/dy (dF/dx + I).")
    if residual_act_growth is not None and residual_act_growth > 10:
        lines.append(f"The residual net's activations grow {_times(residual_act_growth)} from first to last block: "
                     "without normalisation each addition adds variance, so the forward signal itself explodes.")
    return lines


def first_last_ratio(values) -> float:
    """First/last block value at one step (NaN where the last is zero)."""
    return float(values[0] / values[-1]) if len(values) and values[-1] > 0 else float("nan")


def twin_metrics(view) -> list[tuple[str, str, str | None]]:
    """(label, value, note) for each net of a RunView: its first/last gradient ratio now, and its recent error."""
    out = []
    for role, net in view.nets.items():
        now = net.last_finite()
        if now is None:
            continue
        name = role.capitalize() if role in ("plain", "residual") else net.label
        first = f"at step {int(net.steps[0])}: {first_last_ratio(net.grad_norm[0]):.1e}"
        out.append((f"{name}: first/last block gradient", f"{first_last_ratio(net.grad_norm[now]):.1e}", first))
        recent = net.train_error[-20:]
        if len(recent):
            out.append((f"{name}: training error (last 20 steps)", f"{100 * float(recent.mean()):.1f}%", None))
    return out


def twin_sentences(view, *, norm: str) -> list[str]:
    """The sentences beside a plain/residual pair, from its latest finite step."""
    plain, residual = view.nets.get("plain"), view.nets.get("residual")
    if plain is None or residual is None or plain.last_finite() is None or residual.last_finite() is None:
        return []
    pr = first_last_ratio(plain.grad_norm[plain.last_finite()])
    rr = first_last_ratio(residual.grad_norm[residual.last_finite()])
    std = residual.act_std[residual.last_finite()]
    growth = float(std[-1] / std[0]) if std[0] > 0 else None
    return describe_twins(pr, rr, norm=norm, residual_act_growth=growth)
