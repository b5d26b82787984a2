"""Helpers shared by the analysis pages: choosing a trained pair, progress bars, and cached results.

Results are cached with st.cache_data and pairs with st.cache_resource, but computed outside the
cached functions: a Streamlit call made inside a cached function is replayed on every cache hit,
so a progress bar (or a landscape redrawn row by row) would be replayed too. `remembered` looks a
key up first, computes on a miss with the page's own progress, then stores the finished value.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import streamlit as st

from resnet.analysis.pairs import DEFAULT_PRESET, PRESETS, Pair, pair_from_store, stored_candidates, train_pair
from resnet.store import RunInfo, RunStore, StoreError

T = TypeVar("T")
SOURCES = ("Train a preset here", "Two runs from the run store")


@st.cache_data(show_spinner=False, max_entries=32)
def _result(key: tuple, _value=None):
    # A miss raises, and Streamlit caches no exception: a lookup never stores anything.
    if _value is None:
        raise KeyError(key)
    return _value


@st.cache_resource(show_spinner=False, max_entries=4)
def _pair(key: tuple, _value: Pair | None = None) -> Pair:
    # The same lookup-then-store scheme; a pair is frozen once made, so all sessions share it.
    if _value is None:
        raise KeyError(key)
    return _value


def remembered(key: tuple, compute: Callable[[], T], *, store: Callable = _result) -> T:
    """The cached value for `key`, or `compute()`'s, which is then cached."""
    try:
        return store(key)
    except KeyError:
        pass  # computed outside the handler, so its own errors do not read as a cache miss
    return store(key, compute())


def progress_bar(text: str) -> tuple[Callable[[float, str], None], Callable[[], None]]:
    """A progress bar and (update(fraction, text), clear()) for it."""
    bar = st.progress(0.0, text=text)
    return (lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), text=message)), bar.empty


@dataclass(frozen=True)
class PairChoice:
    """Which pair to analyse, as plain values: a preset to train, or two stored runs."""

    preset: str | None
    store_path: str | None
    plain_id: int | None
    residual_id: int | None
    device: str
    seed: int

    @property
    def key(self) -> tuple:
        """A hashable identity of the pair this choice yields."""
        return (self.preset, self.store_path, self.plain_id, self.residual_id, self.device, self.seed)


def _describe(info: RunInfo) -> str:
    started = datetime.datetime.fromtimestamp(info.started).strftime("%m-%d %H:%M")
    c = info.config
    return (f"#{info.id} {info.label} · {c.model.family} width {c.model.width} · {c.dataset} · "
            f"{info.steps} steps · {started}")


def session_device() -> str:
    """The sidebar's device ("auto" until the router has drawn the sidebar)."""
    return st.session_state.get("device", "auto")


def pair_ui() -> PairChoice | None:
    """Draw the choice of pair; None (with a message on the page) when the store offers no usable pair."""
    device, seed = session_device(), int(st.session_state.get("seed", 0))
    source = st.radio("Networks", SOURCES, horizontal=True, key="analysis_source",
                      help="a preset trains a plain net and its residual twin here (once; then it is cached)")
    if source == SOURCES[0]:
        names = list(PRESETS)
        preset = st.selectbox("Preset", names, index=names.index(DEFAULT_PRESET), key="analysis_preset",
                              format_func=lambda n: PRESETS[n].label)
        return PairChoice(preset, None, None, None, device, seed)
    try:
        store = RunStore()
        plain_runs, residual_runs = stored_candidates(store)
    except StoreError as err:
        st.error(str(err))
        return None
    if not plain_runs or not residual_runs:
        st.info(f"The run store ({store.path}) has no finished plain and residual runs yet. Train some on the "
                "Degradation or Gradient flow page, or with `python -m resnet train`, then come back.")
        return None
    left, right = st.columns(2)
    plain = left.selectbox("Plain run", plain_runs, format_func=_describe, key="analysis_plain")
    twins = sorted(residual_runs, key=lambda r: (r.config.model.depth != plain.config.model.depth,
                                                 r.config.dataset != plain.config.dataset, -r.id))
    residual = right.selectbox("Residual run", twins, format_func=_describe, key="analysis_residual")
    return PairChoice(None, str(store.path), plain.id, residual.id, device, seed)


def load_pair(choice: PairChoice) -> Pair | None:
    """The chosen pair, trained (with a progress bar) or loaded once per process; None after an error message."""
    def make() -> Pair:
        if choice.preset is not None:
            update, clear = progress_bar(f"Training {PRESETS[choice.preset].label}...")
            try:
                return train_pair(choice.preset, seed=choice.seed, device=choice.device, on_progress=update)
            finally:
                clear()
        return pair_from_store(RunStore(choice.store_path), choice.plain_id, choice.residual_id,
                               device=choice.device)

    try:
        return remembered(choice.key, make, store=_pair)
    except ValueError as err:  # StoreError is a ValueError too
        st.error(str(err))
        return None


def pair_caption(pair: Pair) -> str:
    """One line naming the pair and its test errors."""
    plain, residual = pair.test_error
    return (f"Networks: {pair.source}. Test error: plain {100 * plain:.1f}%, residual {100 * residual:.1f}% "
            f"({len(pair.data.test_y)} test samples).")
