"""The Ray backend on a private local cluster (2 CPUs, no dashboard): the rows of the local backend, a killed
trial, Ctrl-C, resume, an unreachable address; and no Ray process left once the cluster is shut down."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import ray

from resnet.cli import main
from resnet.store import RunStore, pid_alive
from resnet.sweeps.driver import run_grid
from resnet.sweeps.grid import SweepGrid
from resnet.sweeps.ray_tune import ray_cluster
from resnet.trainer import TrainConfig
from tests.helpers import wait_for

SMALL = TrainConfig(test_every=5).replace(width=2)


@pytest.fixture(scope="module")
def cluster():
    """One private cluster for the module; afterwards none of its processes may be left."""
    with ray_cluster(None, num_cpus=2):
        node = ray._private.worker._global_node
        pids = {kind: [p.process.pid for p in infos] for kind, infos in node.all_processes.items()}
        assert pids.get("raylet") and pids.get("gcs_server")
        yield
    left = [(kind, pid) for kind, ps in pids.items() for pid in ps if pid_alive(pid)]
    assert wait_for(lambda: not [p for _, p in left if pid_alive(p)], 30), left
    assert not ray.is_initialized()


def sweep_json(capsys: pytest.CaptureFixture, *flags: str) -> dict:
    code = main(["sweep", "--depths", "8", "--width", "2", "--steps", "40", "--seeds", "2", "--nets", "plain",
                 "--json", *flags])
    out, _ = capsys.readouterr()
    assert code == 0
    return json.loads(out)


def test_trials_record_exactly_the_rows_of_the_local_backend(cluster, capsys: pytest.CaptureFixture) -> None:
    remote = sweep_json(capsys, "--backend", "ray")
    local = sweep_json(capsys, "--backend", "local", "--jobs", "2")
    assert remote["backend"] == "ray" and remote["sweep"] != local["sweep"]
    store = RunStore()
    pairs = list(zip(remote["runs"], local["runs"], strict=True))
    assert len(pairs) == 2
    for r, lo in pairs:
        assert (r["seed"], r["residual"], r["status"]) == (lo["seed"], lo["residual"], "finished")
        a, b = store.tables(r["run_id"]), store.tables(lo["run_id"])
        assert a["steps"].equals(b["steps"]) and len(a["steps"]) == 40  # loss, errors: bit for bit
        assert a["blocks"].equals(b["blocks"])
        ra, rb = store.responses(r["run_id"]), store.responses(lo["run_id"])
        assert ra[0] == rb[0] and (ra[1] == rb[1]).all()
        assert store.run(r["run_id"]).pid == os.getpid()  # the driver wrote it
    (plain,) = remote["aggregates"]
    assert plain["seeds"] == [0, 1] and plain["train_error"]["min"] <= plain["train_error"]["mean"] <= plain[
        "train_error"]["max"]
    assert plain["train_error"]["min"] < plain["train_error"]["max"]  # two seeds, two different runs
    assert remote["aggregates"] == local["aggregates"]


def test_a_killed_trial_fails_alone_and_resume_redoes_it(cluster) -> None:
    from resnet.sweeps.ray_tune import RayBackend

    store = RunStore()
    grid = SweepGrid(SMALL, (8,), (False, True), 1, (), 400)
    killed = []

    def kill(progress) -> None:
        p = progress[0]
        if not killed and p.state == "running" and p.step >= 1 and p.pid:
            os.kill(p.pid, signal.SIGKILL)
            killed.append(p.run_id)

    result = run_grid(store, grid, RayBackend(), tag="k", on_progress=kill)
    assert killed and {r.residual: r.status for r in result.rows} == {False: "failed", True: "finished"}
    dead = store.run(killed[0])
    assert dead.message and 1 <= dead.steps < 400 and store.integrity_check() == "ok"
    again = run_grid(store, grid, RayBackend(), tag="k", resume=True)
    assert (again.trained, again.skipped) == (1, 1)
    assert [r.status for r in again.rows] == ["finished", "finished"], [store.run(r.run_id).message for r in again.rows]
    assert dead.id not in {r.run_id for r in again.rows}


def test_ctrl_c_stops_every_trial_and_marks_its_run_stopped(cluster) -> None:
    from resnet.sweeps.ray_tune import RayBackend

    store = RunStore()

    def interrupt(progress) -> None:
        if all(p.step >= 1 for p in progress):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_grid(store, SweepGrid(SMALL, (8,), (False, True), 1, (), 50_000), RayBackend(), tag="c",
                 on_progress=interrupt)
    runs = store.runs(sweep="c")
    assert len(runs) == 2 and {r.status for r in runs} == {"stopped"} and all(r.steps < 50_000 for r in runs)
    assert all(store.state_dict(r.id) for r in runs)  # each trial closed its own run, weights and all


@pytest.mark.parametrize("how", ["flag", "env"])
def test_an_unreachable_cluster_fails_fast_in_one_line(capsys: pytest.CaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    flags = ["--address", "127.0.0.1:9"] if how == "flag" else []
    if how == "env":
        monkeypatch.setenv("GFL_RAY_ADDRESS", "127.0.0.1:9")
    t0 = time.monotonic()
    code = main(["sweep", "--depths", "8", "--width", "2", "--steps", "3", "--backend", "ray", *flags])
    _, err = capsys.readouterr()
    assert code == 2 and time.monotonic() - t0 < 30
    assert "cannot reach the Ray cluster at 127.0.0.1:9" in err and "--backend local" in err
    assert len(err.strip().splitlines()) == 1
