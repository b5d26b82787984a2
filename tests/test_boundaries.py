"""The folders are the architecture: viz/ has no torch or streamlit, resnet/ no streamlit or plotly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"viz": {"torch", "streamlit", "captum", "torchvision"}, "resnet": {"streamlit", "plotly"}}


def imported_modules(path: Path) -> set[str]:
    """Top-level package names a Python file imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_folder_imports_stay_in_their_lane(folder: str) -> None:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"{folder}/ has no Python files"
    offenders = {str(f.relative_to(ROOT)): sorted(imported_modules(f) & FORBIDDEN[folder]) for f in files}
    assert not {k: v for k, v in offenders.items() if v}


def test_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nfrom torch import nn\n")
    assert imported_modules(bad) & FORBIDDEN["viz"] == {"torch"}
