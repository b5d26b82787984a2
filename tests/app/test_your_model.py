"""The Your model page in AppTest: the probe runs in a worker process and the page draws its report.

AppTest fires no `run_every` timer, so a test polls the job by rerunning the page, with a deadline.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import torch
from streamlit.testing.v1 import AppTest

from pages.common import ROUTED
from resnet import zoo
from resnet.jobs import JobServer
from resnet.store import RunStore
from tests.app.test_gradient_flow import app, button, progress_text, run_until  # noqa: F401 - app: the fixture
from tests.app.test_gradient_flow import open_page as open_app

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "your_model.py")
JOB_S = 240  # the longest a test waits for one probe (a CIFAR ResNet-20, on a shared 2-core machine)


@pytest.fixture(scope="module")
def server():
    """The page's job server for this module (one slot)."""
    s = JobServer(cap=1, limit=4, leave_line_after=1.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("pages.analysis_common.job_server", lambda: s)
        yield s
    s.shutdown()


def run(at: AppTest) -> AppTest:
    at.session_state[ROUTED] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def probe(at: AppTest) -> AppTest:
    """Press Probe one batch and rerun the page until its job has ended."""
    next(b for b in at.button if b.label == "Probe one batch").click()
    run(at)
    deadline = time.monotonic() + JOB_S
    while any(b.label == "Cancel" for b in at.button):
        assert time.monotonic() < deadline, f"the probe did not end within {JOB_S} s"
        time.sleep(0.3)
        run(at)
    return at


def open_page(arch: str, iterations: int = 1) -> AppTest:
    at = run(AppTest.from_file(PAGE, default_timeout=60))
    at.selectbox(key="ym_arch").set_value(arch)
    at.number_input(key="ym_batch").set_value(2)
    at.number_input(key="ym_iters").set_value(iterations)
    return run(at)


def text(at: AppTest) -> str:
    return " ".join(e.value for e in (*at.markdown, *at.caption, *at.info, *at.error, *at.warning))


def test_the_page_probes_a_cifar_resnet_in_a_worker_and_draws_it(server) -> None:
    at = probe(open_page("cifar_resnet20"))
    assert len(at.get("plotly_chart")) == 2  # gradient profile, Jacobian spectra
    frame = at.dataframe[0].value
    assert list(frame["block"]) == [f"stage{s}.{i}" for s in (1, 2, 3) for i in range(3)]
    assert (frame["‖∂L/∂x‖"] > 0).all() and (frame["σ₁ with skip"] > 0).all()
    assert "Largest relative difference over 9 blocks" in text(at)
    assert "cifar_resnet20, batch 2×3×32×32 of digits (resized), 10 classes" in text(at)


def test_densenet_says_it_has_no_switches_before_any_probe() -> None:
    at = open_page("densenet121")
    assert "has no shortcut switches" in text(at) and "concatenations" in text(at)


def test_a_checkpoint_on_the_server_loads_and_a_wrong_one_is_named(server, tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "c20.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in zoo.model("cifar_resnet20", num_classes=10)
                               .state_dict().items()}, "best_prec1": 90.0}, path)
    at = open_page("cifar_resnet20", iterations=0)
    at.radio(key="ym_weights").set_value("A file on the server")
    run(at)
    at.text_input(key="ym_path").set_value(str(path))
    at = probe(run(at))
    assert "Checkpoint: state dict taken from its 'state_dict' entry (beside best_prec1)." in text(at)
    assert len(at.get("plotly_chart")) == 1  # no power iterations asked for: no spectra
    at.selectbox(key="ym_arch").set_value("cifar_resnet32")
    at = probe(run(at))
    assert "Probing failed: c20.pth holds" not in text(at)
    assert "does not fit cifar_resnet32" in text(at) and "layer1.3" not in text(at)


def test_the_live_link_carries_the_chosen_model_and_says_it_starts_untrained() -> None:
    at = open_page("resnet50")
    at.number_input(key="ym_size").set_value(64)
    at = run(at)
    link = next(m.value for m in at.markdown if "Train live in the Gradient flow view" in m.value)
    query = dict(parse_qsl(link.split("](./?", 1)[1].rstrip(")")))
    assert (query["arch"], query["input_size"], query["dataset"], query["preset"]) == ("resnet50", "64", "digits",
                                                                                       "custom")
    assert "from the model's initial weights" in text(at)
    at.selectbox(key="ym_arch").set_value("densenet121")
    at = run(at)
    assert not any("Train live" in m.value for m in at.markdown)  # no switches, no plain twin


def test_a_zoo_model_trains_live_against_itself_with_every_shortcut_off(app) -> None:  # noqa: F811
    at = open_app(app, {"preset": "custom", "arch": "resnet18", "input_size": "32", "dataset": "digits",
                                  "batch": "32", "steps": "50"})
    assert not at.exception and not at.warning
    assert any("Model: resnet18 from the zoo (Your model page), at 32×32" in c.value for c in at.caption)
    button(at, "Step").click().run()
    at = run_until(at, lambda a: "step 1 of 50" in progress_text(a) and "paused" in progress_text(a), timeout=180)
    view = at.session_state["gf_job"].view()
    assert view.nets["residual"].shortcuts == [True] * 8
    assert view.nets["plain"].shortcuts == [False] * 8
    assert [len(view.nets[t].loss) for t in ("plain", "residual")] == [1, 1]  # one step of each twin
    runs = {r.id: r for r in RunStore().runs()}
    ids = at.session_state["gf_job"].run_ids
    assert {runs[i].name for i in ids.values()} == {"resnet18", "resnet18-plain"}
