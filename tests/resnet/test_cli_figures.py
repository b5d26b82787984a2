"""`runs export --format png|svg|gif|animation|report`: every figure of a stored pair, valid files, no CDN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from figure_export import animation_figure, frame_steps
from resnet.cli import main
from resnet.store import RunStore
from resnet.views import stored_view
from tests.helpers import chromium_or_fail, record_small_pair


@pytest.fixture(scope="module")
def pair_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """A store holding one small recorded pair; (store path, residual run id)."""
    path = tmp_path_factory.mktemp("figures") / "runs.db"
    _, residual = record_small_pair(RunStore(path), family="mlp", steps=12)
    return str(path), residual


def export(pair_store: tuple[str, int], fmt: str, out: Path, capsys: pytest.CaptureFixture) -> list[Path]:
    """Run the CLI's export and return the paths it printed."""
    store, run_id = pair_store
    assert main(["runs", "export", str(run_id), "--format", fmt, "--out", str(out), "--store", store]) == 0
    return [Path(line) for line in capsys.readouterr().out.split()]


def test_png_and_svg_one_file_per_figure(pair_store, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    chromium_or_fail()
    pngs = export(pair_store, "png", tmp_path / "png", capsys)
    assert len(pngs) == 5 and {p.stem.split("-", 2)[2] for p in pngs} >= {"gradient_heatmap", "curves"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    svgs = export(pair_store, "svg", tmp_path / "svg", capsys)
    assert len(svgs) == 5 and all(b"<svg" in p.read_bytes()[:400] for p in svgs)


def test_gif_fills_in(pair_store, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    chromium_or_fail()
    from PIL import Image

    (gif,) = export(pair_store, "gif", tmp_path, capsys)
    image = Image.open(gif)
    assert gif.read_bytes()[:6] == b"GIF89a" and image.width == 960
    assert image.n_frames == len(frame_steps(12)) == 12


def test_animation_and_report_have_no_external_script(pair_store, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    for fmt in ("animation", "report"):
        (page,) = export(pair_store, fmt, tmp_path, capsys)
        text = page.read_text()
        assert not re.search(r"<script[^>]+src=", text) and "plotly" in text.lower()
    assert "Plotly.addFrames" in (tmp_path / f"run-{pair_store[1]}-heatmap-animation.html").read_text()


def test_animation_holds_the_grid_once_and_its_frames_uncover_it(pair_store) -> None:
    store, run_id = pair_store
    view = stored_view(RunStore(store), run_id)
    fig = animation_figure(view)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 2  # the pair's two panels, each with every recorded column
    assert all(list(t.x) == list(range(1, view.step + 1)) for t in heat)
    steps = frame_steps(view.step)
    assert [f.name for f in fig.frames] == [str(s) for s in steps]
    for frame, step in zip(fig.frames, steps, strict=True):
        assert not frame.data  # a frame moves curtains: the values are not sent again
        curtains = frame.layout.shapes[len(fig.layout.shapes):]
        assert [c.xref for c in curtains] == [t.xaxis for t in heat]
        # Each curtain starts after its frame's step; the last frame's has no width left.
        assert all(c.name == "curtain" and c.x0 == step + 0.5 and c.x1 >= c.x0 and c.layer == "above"
                   for c in curtains)
        assert list(frame.layout.shapes[:len(fig.layout.shapes)]) == list(fig.layout.shapes)


def test_missing_chromium_is_one_line(pair_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "none"))
    monkeypatch.setenv("GFL_CHROMIUM", str(tmp_path / "none"))
    monkeypatch.setattr("figure_export.CHROMIUM_CANDIDATES", ())
    store, run_id = pair_store
    assert main(["runs", "export", str(run_id), "--format", "png", "--out", str(tmp_path), "--store", store]) == 2
    err = capsys.readouterr().err.strip()
    assert "no Chromium found" in err and "\n" not in err


def test_frame_steps_bounded() -> None:
    assert frame_steps(400)[-1] == 400 and len(frame_steps(400)) == 60 and frame_steps(3) == [1, 2, 3]
