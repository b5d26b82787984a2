"""Your model: a torchvision ResNet, ResNeXt, Wide ResNet or DenseNet, or a CIFAR ResNet checkpoint, probed."""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import pandas as pd
import streamlit as st

from pages.analysis_common import outcome, submit
from pages.common import require_router
from resnet import zoo
from resnet.checkpoints import MAX_CHECKPOINT_BYTES
from resnet.data import OFFLINE, default_root
from resnet.yourmodel import (
    JACOBIAN_ITERATIONS,
    MAX_JACOBIAN_ITERATIONS,
    MAX_PROBE_BATCH,
    PROBE_DATA,
    ProbeReport,
    live_query,
)
from viz.yourmodel import block_profile_figure, spectra_figure

require_router()

WEIGHTS = ("None (random initialisation)", "Upload a checkpoint", "A file on the server")
DATA_LABELS = {"digits": "digits (resized)", "random": "random inputs", "cifar10": "CIFAR-10 (local copy)",
               "mnist": "MNIST (local copy)"}


def _upload_cap() -> int:
    """The server's upload cap in bytes (server.maxUploadSize, in MB), and never above what is read."""
    return min(int(st.get_option("server.maxUploadSize")) * 1024 * 1024, MAX_CHECKPOINT_BYTES)


def weights_ui() -> tuple[object, str] | None:
    """The chosen weights (None, bytes or a server path) and a key naming them; None while one is missing."""
    how = st.radio("Weights", WEIGHTS, horizontal=True, key="ym_weights")
    if how == WEIGHTS[0]:
        return None, "random"
    if how == WEIGHTS[1]:
        cap = _upload_cap()
        upload = st.file_uploader("Checkpoint (.pt, .pth, .th, a run file)", key="ym_upload",
                                  help=f"at most {cap / 2**20:.0f} MB here (the server's upload cap); larger files: "
                                       "give their path on the server, or `python -m resnet runs import-checkpoint`")
        if upload is None:
            return None
        if upload.size > cap:  # refused before a byte of it is read
            st.error(f"{upload.name} is {upload.size / 2**20:.0f} MB; uploads stop at {cap / 2**20:.0f} MB. Give its "
                     "path on the server instead.")
            return None
        return upload.getvalue(), f"upload:{upload.name}:{upload.size}:{upload.file_id}"
    path = st.text_input("Path of the checkpoint on the server", key="ym_path").strip()
    return (path, f"path:{path}") if path else None


st.title("Your model")
st.caption(
    "Point the lab at a ResNet you use: torchvision's ResNet-18 to 152, ResNeXt-50 32x4d (Xie et al. 2017), Wide "
    "ResNet-50-2 (Zagoruyko & Komodakis 2016), DenseNet-121 (Huang et al. 2017), or a CIFAR ResNet of the widely "
    "used PyTorch layout, with random weights or your checkpoint. One batch goes through it, and each block's "
    "gradients, its gradient identity and its Jacobian are measured."
)
left, right = st.columns(2)
with left:
    arch = st.selectbox("Model", zoo.MODELS, index=zoo.MODELS.index("resnet18"), key="ym_arch")
    chosen = weights_ui()
with right:
    local = [d for d in PROBE_DATA if d in OFFLINE or d == "random" or (default_root() / d).exists()]
    data = st.selectbox("Data", local, format_func=DATA_LABELS.get, key="ym_data",
                        help="CIFAR-10 and MNIST appear when a local copy exists; inputs get ImageNet normalisation")
    c1, c2, c3 = st.columns(3)
    size = c1.number_input("Input size", zoo.MIN_INPUT_SIZE, zoo.MAX_INPUT_SIZE, 32, step=16, key="ym_size",
                           help=f"native: {zoo.native_input_size(arch)}; the images are resized to it")
    batch = c2.number_input("Batch", 2, MAX_PROBE_BATCH, 8, key="ym_batch")
    iters = c3.number_input("Power iterations", 0, MAX_JACOBIAN_ITERATIONS, JACOBIAN_ITERATIONS, key="ym_iters",
                            help="per block, for the Jacobian's top singular values; 0 skips them")
if arch not in zoo.SWITCHABLE:
    st.info(f"{arch} is probed but has no shortcut switches: DenseNet's skips are concatenations, and removing one "
            "would change the channels every later layer takes.")
else:
    # A link, not st.page_link: the query string is the whole setup, and it works from any session or tab.
    st.markdown(f"[:material/waves: Train live in the Gradient flow view](./?"
                f"{urlencode(live_query(arch, input_size=int(size), data=data))})")
    st.caption(f"{arch} against itself with every shortcut off, from the model's initial weights (an uploaded "
               f"checkpoint is not carried over), on {DATA_LABELS.get(data if data != 'random' else 'digits')}."
               + (" A CIFAR ResNet trains as the lab's own CIFAR ResNet of its depth, at the data's own size."
                  if arch in zoo.CIFAR_RESNETS else ""))

if st.button("Probe one batch", type="primary", disabled=chosen is None):
    weights, weights_key = chosen
    seed = int(st.session_state.get("seed", 0))
    key = ("yourmodel", arch, weights_key, data, int(size), int(batch), int(iters), seed)
    submit("ym_job", key, "resnet.yourmodel:probe_batch", arch=arch, weights=weights, data=data,
           input_size=int(size), batch=int(batch), seed=seed, jacobian_iterations=int(iters))

report: ProbeReport | None = outcome("ym_job", "Probing")
if report is not None:
    shape = "×".join(map(str, report.input_shape))
    st.caption(f"{report.arch}, batch {shape} of {DATA_LABELS[report.data]}, {report.num_classes} classes; loss "
               f"{report.loss:.3f}. " + " · ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()))
    if report.head_replaced:
        st.warning("The checkpoint's class count differs from the model's: its head was replaced by a fresh one.")
    for note in report.weights_notes:
        st.caption(f"Checkpoint: {note}.")
    st.plotly_chart(block_profile_figure(report.block_names, report.grad_norm, report.input_grad_norm), theme=None)
    errors = report.identity_error
    checked = errors[np.isfinite(errors)]
    st.subheader("The gradient identity, block by block")
    st.markdown(
        f"For each block with a skip, ∂L/∂x by autograd against the identity (L = ⟨r, y⟩ for a random r): sums "
        "y = relu(F(x) + S(x)) give ∂L/∂x = (∂F/∂x + ∂S/∂x)ᵀ ∂L/∂s at the sum s, with S = I on identity shortcuts; "
        "DenseNet's concatenations [x, H(x)] pass the old channels' gradient through unchanged. "
        f"Largest relative difference over {len(checked)} blocks: **{checked.max():.1e}**."
        if len(checked) else "No block of this model has a skip to check.")
    if int(np.isfinite(report.sigma_plain).any()):
        st.plotly_chart(spectra_figure(report.block_names, report.sigma_plain, report.sigma_skip), theme=None)
        st.caption("One example, batch norm as at test time, by power iteration: how far each block can stretch a "
                   "small change of its input, with its skip and without it (the block with its shortcut off).")
    st.dataframe(pd.DataFrame({
        "block": report.block_names, "skip": report.skip_kinds, "‖∂L/∂θ‖": report.grad_norm,
        "‖∂L/∂x‖": report.input_grad_norm, "output std": report.act_std, "identity error": errors,
        "σ₁ with skip": report.sigma_skip[:, 0], "σ₁ without": report.sigma_plain[:, 0],
    }), hide_index=True)
elif "ym_job" not in st.session_state:
    st.info("Press **Probe one batch**: the model is built and probed in a worker process.")
