"""Analysis results in the store: kept per pair (or, for a study with no pair, the study key), kind and settings,
migrated in, exported and imported, checked."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from resnet.analysis.records import STUDY_KEY, attributions_params, decode, encode, lesion_params, shattered_params
from resnet.analysis.results import Analysis, LesionResult, PairSummary
from resnet.store import SCHEMA_VERSION, RunStore, StoreError, new_key
from tests.resnet.store.helpers import TINY, bare_run

PARAMS = lesion_params(draws=2, seed=0)


def fake_lesion(n_blocks: int = 3) -> Analysis[LesionResult]:
    """A lesion study's result of a three-block pair, with numbers a real one could have."""
    k = np.arange(n_blocks + 1)
    return Analysis(
        PairSummary("twins", (0.2, 0.1), 100, "spirals", False, 3, 3, (1, 2)),
        LesionResult(block_names=[f"block{i}" for i in range(n_blocks)], intact={"plain": 0.8, "residual": 0.9},
                     single={"plain": np.linspace(0.3, 0.5, n_blocks), "residual": np.full(n_blocks, 0.85)},
                     k=k, random={"plain": np.full((len(k), 2), 0.4), "residual": np.full((len(k), 2), 0.7)},
                     shape_changing=[], chance=1 / 3))


def pair_of(store: RunStore) -> str:
    """A plain and a residual run recorded as one finished pair; its key."""
    key = new_key()
    for residual in (False, True):
        store.finish(bare_run(store, config=TINY.replace(residual=residual), pair=key), "finished", seconds=1.0)
    return key


def test_a_result_is_kept_per_pair_kind_and_settings(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    key = pair_of(store)
    assert store.analysis(key, "lesion", PARAMS) is None
    store.save_analysis(key, "lesion", PARAMS, fake_lesion())
    back = store.analysis(key, "lesion", dict(reversed(PARAMS.items())))  # the order of settings does not matter
    np.testing.assert_allclose(back.result.single["plain"], fake_lesion().result.single["plain"])
    assert back.pair.run_ids == tuple(r.id for r in store.pair(key)) and back.result.chance == pytest.approx(1 / 3)
    assert store.analysis(key, "lesion", lesion_params(draws=3, seed=0)) is None
    with pytest.raises(StoreError, match="has no run"):
        store.save_analysis(new_key(), "lesion", PARAMS, fake_lesion())
    store.delete(store.pair(key)[0].id)  # a twin gone: the pair's results go with it
    with sqlite3.connect(store.path) as con:
        assert con.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 0


def test_a_damaged_stored_result_is_one_line_naming_pair_and_field(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    key = pair_of(store)
    store.save_analysis(key, "lesion", PARAMS, fake_lesion())
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE analyses SET result = json_set(result, '$.result.single.plain[1]', 7.5)")
    with pytest.raises(StoreError) as err:
        store.analysis(key, "lesion", PARAMS)
    assert f"pair {key!r} is damaged" in str(err.value) and "result.single.plain[1]: expected" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r["result"].pop("chance"), "result: expected an object with exactly"),
    (lambda r: r["result"]["single"].update(plain=[0.5]), "result.single.plain: expected 3 finite"),
    (lambda r: r["result"]["random"]["residual"][0].__setitem__(0, float("nan")), "result.random.residual[0][0]"),
    (lambda r: r["result"].update(k=[3, 1]), "result.k: expected increasing"),
    (lambda r: r["pair"].update(test_samples="many"), "pair.test_samples: expected an integer"),
    (lambda r: r["result"].update(block_names="block0"), "result.block_names: expected a list"),
])
def test_every_field_of_a_record_is_checked(change, field: str) -> None:
    record = encode("lesion", fake_lesion())
    change(record)
    with pytest.raises(ValueError, match=None) as err:
        decode("lesion", record)
    assert str(err.value).startswith(field)


def test_a_version_3_store_is_migrated_with_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    store = RunStore(path)
    key = pair_of(store)
    before = [(r.id, r.key, r.pair) for r in store.runs()]
    with contextlib.closing(sqlite3.connect(path)) as con:  # as version 3 left it: no analyses table
        con.execute("DROP TABLE analyses")
        con.execute("PRAGMA user_version = 3")
        con.commit()
    store = RunStore(path)
    with contextlib.closing(sqlite3.connect(path)) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert [(r.id, r.key, r.pair) for r in store.runs()] == before and store.integrity_check() == "ok"
    store.save_analysis(key, "lesion", PARAMS, fake_lesion())
    assert store.analysis(key, "lesion", PARAMS) is not None


def exported_pair(tmp_path: Path, kind: str = "lesion", params: dict | None = None, analysis=None) -> tuple[Path, str]:
    """A run file of a pair (both twins) with one result (its lesion study unless told otherwise)."""
    source = RunStore(tmp_path / "source.db")
    key = pair_of(source)
    source.save_analysis(key, kind, PARAMS if params is None else params, analysis or fake_lesion())
    plain, residual = source.pair(key)
    path = source.export_run(plain.id, tmp_path / "pair.gflrun")
    with contextlib.closing(sqlite3.connect(path)) as con:  # the twin joins the same file
        con.execute("ATTACH DATABASE ? AS src", (str(source.path),))
        con.execute(f"INSERT INTO runs SELECT * FROM src.runs WHERE id = {residual.id}")
        con.commit()
    return path, key


def test_export_and_import_carry_a_pairs_result(tmp_path: Path) -> None:
    path, key = exported_pair(tmp_path)
    store = RunStore(tmp_path / "laptop.db")
    bare_run(store)  # ids differ on the laptop: the result follows the pair's key
    imported = store.import_run(path)
    assert len(imported.ids) == 2 and imported.analyses == 1 and not imported.refused
    assert "with 1 analysis result(s)" in imported.summary(store.path)
    found = store.analysis(key, "lesion", PARAMS)
    assert found is not None and set(found.pair.run_ids) == set(imported.ids)
    assert store.import_run(path).analyses == 0  # already here: nothing twice


@pytest.mark.parametrize(("statement", "field"), [
    ("UPDATE analyses SET result = json_set(result, '$.result.intact.plain', 'high')", "result.intact.plain"),
    ("UPDATE analyses SET result = '{\"pair\": '", "params/result: not valid JSON"),
    ("UPDATE analyses SET kind = 'magic'", "kind: expected one of lesion"),
    ("UPDATE analyses SET params = '{\"draws\": -1}'", "params: expected an object of"),
    ("UPDATE analyses SET pair = 'NOT A KEY'", "pair: expected a pair's key"),
    ("UPDATE analyses SET pair = '0123456789abcdef'", "pair: no run of this pair came in"),
])
def test_a_malformed_result_is_refused_in_one_line_and_the_runs_come_in(tmp_path: Path, statement: str,
                                                                        field: str) -> None:
    path, key = exported_pair(tmp_path)
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute(statement)
        con.commit()
    store = RunStore(tmp_path / "laptop.db")
    imported = store.import_run(path)
    assert len(imported.ids) == 2 and imported.analyses == 0 and len(imported.refused) == 1
    line = imported.refused[0]
    assert line.startswith("pair.gflrun: analysis 1 (") and field in line and "\n" not in line
    assert store.analysis(key, "lesion", PARAMS) is None and len(store.runs()) == 2


def fake_landscape() -> Analysis:
    """A landscape study's result: a 3x3 grid and a 5-point slice."""
    from resnet.analysis.results import Landscape, Landscapes

    twins = ("plain", "residual")
    grid = Landscape(np.linspace(-1, 1, 3), np.linspace(-1, 1, 3), {t: np.full((3, 3), 2.0) for t in twins},
                     {t: np.full((3, 3), 0.5) for t in twins}, samples=32, rows_done=3)
    line = Landscape(np.linspace(-1, 1, 5), np.zeros(1), {t: np.full((1, 5), 2.0) for t in twins},
                     {t: np.full((1, 5), 0.5) for t in twins}, samples=32, rows_done=1)
    return Analysis(fake_lesion().pair, Landscapes(grid, line))


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: None, ""),
    (lambda r: r["result"]["grid"]["loss"]["plain"][2].__setitem__(1, -1.0), "result.grid.loss.plain[2][1]"),
    (lambda r: r["result"]["line"].update(rows_done=0), "result.line.rows_done: expected an integer from 1 to 1"),
    (lambda r: r["result"]["grid"]["accuracy"].update(residual=[[0.5] * 3] * 2), "result.grid.accuracy.residual"),
])
def test_a_landscape_record_reads_back_and_every_field_is_checked(change, field: str) -> None:
    record = encode("landscape", fake_landscape())
    change(record)
    if not field:
        back = decode("landscape", record)
        np.testing.assert_allclose(back.result.grid.loss["residual"], 2.0)
        return
    with pytest.raises(ValueError) as err:
        decode("landscape", record)
    assert str(err.value).startswith(field)


def fake_attributions() -> Analysis:
    """Attributions of a three-block pair trained on 4x4 images: block shares and two images' maps."""
    from resnet.analysis.results import Attributions, BlockAttribution, InputAttribution

    pair = PairSummary("twins", (0.2, 0.1), 100, "digits", True, 10, 8, (1, 2))
    maps = {t: np.full((2, 4, 4), 0.25) for t in ("plain", "residual")}
    inputs = InputAttribution([0, 5], np.zeros((2, 4, 4)), [3, 7], {"plain": [3, 1], "residual": [3, 7]}, maps, maps,
                              {t: np.full(2, 0.01) for t in maps}, {t: np.full(2, 2.0) for t in maps})
    blocks = BlockAttribution(["block0", "block1", "block2"],
                              {"plain": np.full(3, 0.98), "residual": np.array([0.3, 0.2, 0.4])}, 8, 16)
    return Analysis(pair, Attributions(blocks, inputs))


def fake_study(steps: int = 0):
    """A shattered-gradients study of two depths at initialisation: 64 points, one draw, 16 lags."""
    from resnet.analysis.results import ShatteredResult

    twins = ("plain", "residual")
    acf = np.linspace(1.0, 0.0, 17)
    return ShatteredResult([2, 5], np.linspace(0, 1, 64), {("init", t): np.ones((2, 64)) for t in twins},
                           {("init", t): np.tile(acf, (2, 1, 1)) for t in twins},
                           {t: np.full(2, np.nan) for t in twins}, {t: np.zeros(2, bool) for t in twins},
                           "batch", 8, steps)


STUDY = shattered_params([2, 5], 8, "batch", 64, 1, 0)


def test_a_study_without_a_pair_is_kept_under_the_study_key(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    assert store.analysis(STUDY_KEY, "shattered", STUDY) is None
    store.save_analysis(STUDY_KEY, "shattered", STUDY, fake_study())
    back = store.analysis(STUDY_KEY, "shattered", STUDY)
    assert back.depths == [2, 5] and back.lag1("init", "residual") == pytest.approx([15 / 16, 15 / 16])
    assert store.analysis(STUDY_KEY, "shattered", {**STUDY, "width": 16}) is None  # other settings, other result
    with pytest.raises(StoreError, match="a shattered result has no pair: it is kept under the study key"):
        store.save_analysis(pair_of(store), "shattered", STUDY, fake_study())
    with pytest.raises(StoreError, match="pair 'study' in .* has no run"):
        store.save_analysis(STUDY_KEY, "lesion", PARAMS, fake_lesion())
    key = pair_of(store)
    store.delete(store.pair(key)[0].id)  # a pair's deletion leaves the study alone
    assert store.analysis(STUDY_KEY, "shattered", STUDY) is not None


def test_a_damaged_study_is_one_line_naming_the_field(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    store.save_analysis(STUDY_KEY, "shattered", STUDY, fake_study())
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE analyses SET result = json_set(result, '$.result.acf.init.plain[0][0][3]', 'high')")
    with pytest.raises(StoreError) as err:
        store.analysis(STUDY_KEY, "shattered", STUDY)
    assert "the shattered result is damaged (result.acf.init.plain[0][0][3]: expected" in str(err.value)


def test_a_result_too_large_to_keep_is_refused_when_written(tmp_path: Path, monkeypatch) -> None:
    from resnet.store import analyses

    store = RunStore(tmp_path / "runs.db")
    monkeypatch.setattr(analyses, "MAX_RESULT", 1_000)
    with pytest.raises(StoreError, match="more than the 1,000 the store keeps"):
        store.save_analysis(STUDY_KEY, "shattered", STUDY, fake_study())
    with sqlite3.connect(store.path) as con:
        assert con.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 0


def test_export_and_import_carry_a_pairs_attributions(tmp_path: Path) -> None:
    params = attributions_params(8, 16, (0, 5), 0)
    path, key = exported_pair(tmp_path, "attributions", params, fake_attributions())
    laptop = RunStore(tmp_path / "laptop.db")
    imported = laptop.import_run(path)
    assert imported.analyses == 1 and not imported.refused
    found = laptop.analysis(key, "attributions", params)
    assert set(found.pair.run_ids) == set(imported.ids) and found.result.inputs.predicted["plain"] == [3, 1]
    np.testing.assert_allclose(found.result.blocks.share["residual"], [0.3, 0.2, 0.4])


def store_file_with_a_study(tmp_path: Path) -> Path:
    """A run file as `talk record` writes it: a pair with its lesion result, and a study that needs no run."""
    path, _ = exported_pair(tmp_path)
    source = RunStore(tmp_path / "study.db")
    source.save_analysis(STUDY_KEY, "shattered", STUDY, fake_study())
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute("ATTACH DATABASE ? AS src", (str(source.path),))
        con.execute("INSERT INTO analyses (pair, kind, params, result, created) "
                    "SELECT pair, kind, params, result, created FROM src.analyses")
        con.commit()
    return path


def test_import_carries_a_study_without_any_run(tmp_path: Path) -> None:
    path = store_file_with_a_study(tmp_path)
    laptop = RunStore(tmp_path / "laptop.db")
    imported = laptop.import_run(path)
    assert len(imported.ids) == 2 and imported.analyses == 2 and not imported.refused
    assert laptop.analysis(STUDY_KEY, "shattered", STUDY).depths == [2, 5]
    assert laptop.import_run(path).analyses == 0  # already here: nothing twice


@pytest.mark.parametrize(("statement", "field"), [
    ("UPDATE analyses SET pair = '0123456789abcdef' WHERE kind = 'shattered'", "pair: expected the study key"),
    ("UPDATE analyses SET result = json_set(result, '$.result.depths', json('[5, 2]')) WHERE kind = 'shattered'",
     "result.depths: expected increasing depths"),
    ("UPDATE analyses SET params = json_set(params, '$.depths', json('[[2]]')) WHERE kind = 'shattered'",
     "params: expected an object of"),
    ("UPDATE analyses SET kind = 'lesion', pair = 'study' WHERE kind = 'shattered'", "pair: expected a pair's key"),
])
def test_a_malformed_study_is_refused_in_one_line_and_the_rest_comes_in(tmp_path: Path, statement: str,
                                                                        field: str) -> None:
    path = store_file_with_a_study(tmp_path)
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute(statement)
        con.commit()
    laptop = RunStore(tmp_path / "laptop.db")
    imported = laptop.import_run(path)
    assert len(imported.ids) == 2 and imported.analyses == 1 and len(imported.refused) == 1  # the lesion came in
    assert imported.refused[0].startswith("pair.gflrun: analysis 2 (") and field in imported.refused[0]
    assert laptop.analysis(STUDY_KEY, "shattered", STUDY) is None


def test_a_run_holding_the_study_key_as_its_pair_is_refused(tmp_path: Path) -> None:
    path, _ = exported_pair(tmp_path)
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute("UPDATE runs SET pair = 'study'")
        con.execute("DELETE FROM analyses")
        con.commit()
    imported = RunStore(tmp_path / "laptop.db").import_run(path)
    assert imported.ids == [] and len(imported.refused) == 2
    assert all("pair: 'study' is the key of studies with no pair" in line for line in imported.refused)
