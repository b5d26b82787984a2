"""`python -m resnet`: train, sweep and runs commands; bad arguments give exit code 2 and one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from torchvision import models

from resnet.analysis.pairs import pair_from_store, stored_candidates
from resnet.cli import main
from resnet.data import load_dataset
from resnet.presets import PRESETS, get_preset
from resnet.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--model", "mlp", "--depth", "3", "--width", "8", "--dataset", "spirals", "--steps", "12"]


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_records_a_run_and_prints_its_summary(capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_cli(capsys, "train", *TINY, "--plain", "--lr", "0.05", "--seed", "3", "--amp", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["status"] == "finished" and summary["steps"] == 12 and summary["name"] == "plain-3"
    assert 0.0 <= summary["train_error"] <= 1.0 and summary["seconds"] > 0
    assert "12/12" in err and "it/s" in err  # the progress bar, on stderr
    info = RunStore().run(summary["run_id"])
    assert (info.config.lr, info.config.seed, info.residual, info.config.model.family) == (0.05, 3, False, "mlp")
    assert info.config.amp and not info.config.channels_last  # recorded as asked; autocast acts on CUDA only


def test_a_preset_is_the_base_and_flags_override_it(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run_cli(capsys, "train", "vanishing", "--depth", "4", "--steps", "3", "--json")
    assert code == 0
    info = RunStore().run(json.loads(out)["run_id"])
    preset = get_preset("vanishing").config.model
    assert (info.config.model.depth, info.config.model.act, info.config.model.norm) == (4, preset.act, preset.norm)
    assert info.total_steps == 3


def test_presets_are_valid_and_named() -> None:
    assert {"vanishing", "bn-explodes", "degradation"} <= set(PRESETS)
    for name, preset in PRESETS.items():
        assert get_preset(name) is preset and preset.steps > 0
    with pytest.raises(ValueError, match="unknown preset 'nope'; choose one of: vanishing"):
        get_preset("nope")


def test_sweep_prints_one_object_per_run(capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_cli(capsys, "sweep", "--dataset", "digits", "--depths", "8", "14", "--width", "2",
                             "--steps", "5", "--jobs", "2", "--json")
    assert code == 0
    rows = json.loads(out)["runs"]
    assert [(r["depth"], r["residual"]) for r in rows] == [(8, False), (8, True), (14, False), (14, True)]
    for r in rows:
        assert {"run_id", "depth", "residual", "train_error", "test_error", "steps", "seconds"} <= set(r)
        assert r["steps"] == 5 and r["status"] == "finished"
    assert "[4/4]" in err
    store = RunStore()
    assert len({r.sweep for r in store.runs()}) == 1 and store.responses(rows[0]["run_id"]) is not None


def test_runs_list_show_export_import_delete(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    _, out, _ = run_cli(capsys, "train", *TINY, "--json")
    run_id = json.loads(out)["run_id"]
    code, out, _ = run_cli(capsys, "runs", "list", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [run_id]
    code, out, _ = run_cli(capsys, "runs", "list")
    assert code == 0 and "res-3" in out and "finished" in out
    code, out, _ = run_cli(capsys, "runs", "show", str(run_id), "--json")
    assert code == 0 and json.loads(out)["config"]["model"]["depth"] == 3
    code, out, _ = run_cli(capsys, "runs", "export", str(run_id), "--format", "parquet", "--out", str(tmp_path))
    assert code == 0 and len(pd.read_parquet(tmp_path / f"run-{run_id}-steps.parquet")) == 12
    run_file = tmp_path / "r.gflrun"
    code, _, _ = run_cli(capsys, "runs", "export", str(run_id), "--out", str(run_file))
    assert code == 0 and run_file.is_file()
    other = tmp_path / "other.db"
    code, out, _ = run_cli(capsys, "runs", "import", str(run_file), "--store", str(other))
    assert code == 0 and "imported 1 run" in out
    assert RunStore(other).runs()[0].steps == 12
    code, _, _ = run_cli(capsys, "runs", "delete", str(run_id))
    assert code == 0 and RunStore().runs() == []


@pytest.mark.parametrize("argv, says", [
    (["train", "--depth", "21"], "depth 21 is not 6n+2 for basic blocks; try 20 or 26"),
    (["train", "--model", "rnn"], "invalid choice: 'rnn'"),
    (["train", "--lr", "-1", *TINY[:-2]], "lr must be in"),
    (["train", "--steps", "0", *TINY[:-2]], "steps must be between 1"),
    (["train", "--batch", "abc"], "invalid int value: 'abc'"),
    (["train", "--dataset", "cifar10", "--data-root", "/nonexistent", "--steps", "1"], "no local copy of cifar10"),
    (["train", "nope"], "invalid choice: 'nope'"),
    (["sweep", "--depths", "20", "21"], "depth 21 is not 6n+2"),
    (["sweep", "--seeds", "0"], "seeds must be between 1"),
    (["runs", "show", "99"], "no run 99"),
    (["runs", "frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required"),
])
def test_bad_arguments_exit_2_with_one_line(capsys: pytest.CaptureFixture, argv: list[str], says: str) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2
    assert says in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_corrupt_store_is_one_line(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 300)
    code, _, err = run_cli(capsys, "runs", "list", "--store", str(bad))
    assert code == 2 and "not a valid run store" in err and len(err.strip().splitlines()) == 1


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    # Both at once: each spends most of its time importing torch.
    ok, bad = (subprocess.Popen([sys.executable, "-m", "resnet", "train", *args, "--store", str(store)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for args in ([*TINY, "--json"], ["--depth", "21"]))
    ok_out, ok_err = ok.communicate(timeout=300)
    assert ok.returncode == 0, ok_err
    assert json.loads(ok_out)["steps"] == 12
    _, bad_err = bad.communicate(timeout=300)
    assert bad.returncode == 2 and bad_err.strip().count("\n") == 0 and "try 20 or 26" in bad_err


def _reference_resnet18(seed: int) -> torch.nn.Module:
    """torchvision's ResNet-18 for 10 classes, with batch-norm statistics far from their initial values."""
    torch.manual_seed(seed)
    net = models.resnet18(weights=None, num_classes=10)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def test_import_checkpoint_becomes_a_run_that_rebuilds_the_net(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    ref = _reference_resnet18(0)
    file = tmp_path / "resnet18.pth"  # wrapped and prefixed, as DataParallel trainers save
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}, "epoch": 90}, file)
    store_path = str(tmp_path / "s.db")
    code, out, err = run_cli(capsys, "runs", "import-checkpoint", str(file), "--arch", "resnet18", "--store",
                             store_path)
    assert code == 0, err
    assert "'module.' prefixes removed" in out and "no training steps" in out
    store = RunStore(store_path)
    (info,) = store.runs()
    assert (info.status, info.steps, info.config.model.arch, info.residual) == ("finished", 0, "resnet18", True)
    net = store.load_model(info.id)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), atol=1e-5)
    # The one metric row: the test error of the reference net itself on digits as 3x32x32.
    data = load_dataset("digits", channels=3, image_size=32)
    with torch.no_grad():
        expected = float((ref(data.test_x).argmax(1) != data.test_y).float().mean())
    assert store.summary(info.id).test_error == pytest.approx(expected)

    # The same file as the plain twin (a net trained with its shortcuts off): the two open as an analysis pair.
    code, out, _ = run_cli(capsys, "runs", "import-checkpoint", str(file), "--arch", "resnet18", "--plain",
                           "--store", store_path)
    assert code == 0
    plain_id = max(r.id for r in store.runs())
    assert store.load_model(plain_id).shortcuts() == [False] * 8
    plain_runs, residual_runs = stored_candidates(store)
    assert [r.id for r in plain_runs] == [plain_id] and [r.id for r in residual_runs] == [info.id]
    pair = pair_from_store(store, plain_id, info.id, device="cpu")
    assert pair.test_error[1] == pytest.approx(expected)
    assert pair.data.sample_shape == (3, 32, 32)


@pytest.mark.parametrize(("payload", "arch", "says"), [
    (b"not a checkpoint at all", "resnet18", "is not a readable torch checkpoint"),
    ("resnet18", "resnet34", "does not fit resnet34"),
    ("resnet18", "nope", "invalid choice: 'nope'"),
])
def test_import_checkpoint_refuses_bad_files_in_one_line(capsys: pytest.CaptureFixture, tmp_path: Path,
                                                         payload: bytes | str, arch: str, says: str) -> None:
    file = tmp_path / "bad.pth"
    if isinstance(payload, bytes):
        file.write_bytes(payload)
    else:
        torch.save(getattr(models, payload)(weights=None, num_classes=10).state_dict(), file)
    try:
        code = main(["runs", "import-checkpoint", str(file), "--arch", arch, "--store", str(tmp_path / "s.db")])
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    _, err = capsys.readouterr()
    assert code == 2 and says in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_read_only_cli_refuses_delete_and_import(capsys: pytest.CaptureFixture, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.create_run(get_preset("vanishing").config, total_steps=3, blocks=[], layers=[],
                              sample_shape=(2,), num_classes=3, device="cpu")
    store.finish(run_id, "stopped", seconds=0.0)
    path = store.export_run(run_id, tmp_path / "one.gflrun")
    monkeypatch.setenv("GFL_READ_ONLY", "1")
    for argv, act in ((("runs", "delete", str(run_id)), "delete"), (("runs", "import", str(path)), "import")):
        code, out, err = run_cli(capsys, *argv, "--store", str(store.path))
        assert code == 2 and out == ""
        assert err == (f"python -m resnet: error: cannot {act} runs: this lab is read-only (GFL_READ_ONLY=1 on its "
                       "server)\n")
    assert [r.id for r in store.runs()] == [run_id]


def test_runs_list_names_a_broken_run_and_lists_the_rest(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    import sqlite3

    store = RunStore(tmp_path / "runs.db")
    ids = [store.create_run(get_preset("vanishing").config, total_steps=3, blocks=[], layers=[], sample_shape=(2,),
                            num_classes=3, device="cpu") for _ in range(2)]
    store.finish(ids[0], "stopped", seconds=0.0)
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE runs SET config = '{' WHERE id = ?", (ids[0],))
    code, out, err = run_cli(capsys, "runs", "list", "--store", str(store.path))
    assert code == 0 and f"\n{ids[1]:>5}  " in out and f"\n{ids[0]:>5}  " not in out
    assert f"run {ids[0]} " in err and "is broken" in err and f"`runs delete {ids[0]}` removes it" in err
    code, out, _ = run_cli(capsys, "runs", "delete", str(ids[0]), "--store", str(store.path))
    assert code == 0 and store.broken() == []
