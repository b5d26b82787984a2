"""Figures of one probed batch through a user's model: per-block gradient profiles and Jacobian spectra."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz.theme import PLAIN, RESIDUAL, styled


def block_profile_figure(names: Sequence[str], grad_norm: np.ndarray, input_grad_norm: np.ndarray) -> go.Figure:
    """||dL/dtheta|| of each block's parameters and ||dL/dx|| at each block input, input to output (log y)."""
    fig = go.Figure()
    fig.add_scatter(x=list(names), y=np.asarray(grad_norm, float), mode="lines+markers", name="‖∂L/∂θ‖ block",
                    line=dict(color=RESIDUAL))
    fig.add_scatter(x=list(names), y=np.asarray(input_grad_norm, float), mode="lines+markers",
                    name="‖∂L/∂x‖ at input", line=dict(color="#1b9e77", dash="dot"))
    fig.update_yaxes(type="log", title_text="gradient norm")
    fig.update_xaxes(title_text="block (input → output)", tickangle=-45, automargin=True, title_standoff=16)
    return styled(fig, title="Gradient norms per block, one batch", height=460)


def spectra_figure(names: Sequence[str], sigma_plain: np.ndarray, sigma_skip: np.ndarray) -> go.Figure:
    """The top singular value of each block's Jacobian with its skip and without it (log y)."""
    fig = go.Figure()
    fig.add_scatter(x=list(names), y=np.asarray(sigma_skip, float)[:, 0], mode="markers",
                    name="with skip: σ₁(∂F/∂x + ∂S/∂x)", marker=dict(color=RESIDUAL, size=9))
    fig.add_scatter(x=list(names), y=np.asarray(sigma_plain, float)[:, 0], mode="markers",
                    name="without: σ₁(∂F/∂x)", marker=dict(color=PLAIN, size=9, symbol="diamond"))
    fig.update_yaxes(type="log", title_text="top singular value")
    fig.update_xaxes(title_text="block (input → output)", tickangle=-45, automargin=True, title_standoff=16)
    return styled(fig, title="Largest singular value of each block's Jacobian", height=460)
