"""The folders are the architecture, transitively: what a module imports through other project modules counts.

viz/ draws (no torch, streamlit, captum or torchvision, nothing of resnet/); resnet/'s library
computes (no streamlit or plotly, nothing of viz/ but the numpy-only data modules viz/runview.py and viz/sweepview.py);
the front ends (the Streamlit router and pages, the CLI and the modules it uses only for figure
export) may import both.
"""

from __future__ import annotations

import ast
import os
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS = {"app", "pages", "resnet.__main__", "resnet.cli", "figure_export"}  # modules or packages
# The numpy-only data modules resnet/ builds and viz/ draws (and the package they live in): a run or
# pair (RunView) and a depth sweep (SweepView), so the engine hands over data the figures take as is.
SHARED = {"viz", "viz.runview", "viz.sweepview"}
FORBIDDEN = {  # folder: (outside packages, project module prefixes) its modules never reach
    "viz": ({"torch", "streamlit", "captum", "torchvision"}, {"resnet"}),
    "resnet": ({"streamlit", "plotly"}, {"viz"}),
}


def module_index(root: Path) -> dict[str, Path]:
    """Every Python module under `root` by its dotted name (a package by its __init__.py)."""
    index = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__")) and d not in ("node_modules", "venv")]
        for name in files:
            if name.endswith(".py"):
                parts = (Path(folder) / name).relative_to(root).with_suffix("").parts
                index[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = Path(folder) / name
    return index


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:` (imports for type hints only never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for stmt in node.orelse for n in [stmt, *_runtime_nodes(stmt)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _with_parents(name: str) -> list[str]:
    """Importing a.b.c runs a, a.b and a.b.c."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def imports_of(module: str, path: Path, index: dict[str, Path]) -> set[str]:
    """What `module` imports: project modules by dotted name, outside packages by their top-level name."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module
            names.add(origin)
            names.update(f"{origin}.{a.name}" for a in node.names if f"{origin}.{a.name}" in index)
    found, tops = set(), {m.split(".")[0] for m in index}
    for name in names:
        if name.split(".")[0] in tops:
            found.update(m for m in _with_parents(name) if m in index)
        else:
            found.add(name.split(".")[0])
    found.discard(module)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each project module under `root` and what it imports."""
    index = module_index(root)
    return {module: imports_of(module, path, index) for module, path in index.items()}


def in_package(module: str, packages: set[str]) -> bool:
    """Whether `module` is one of `packages` or inside one."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def offending_chains(graph: dict[str, set[str]], folder: str) -> list[str]:
    """Each chain "a -> b -> torch" by which a module of `folder` (front ends aside) reaches what it must not."""
    outside, project = FORBIDDEN[folder]
    allowed = SHARED if folder == "resnet" else set()
    chains = []
    for start in sorted(m for m in graph if in_package(m, {folder}) and not in_package(m, FRONT_ENDS)):
        came_from: dict[str, str | None] = {start: None}
        todo = deque([start])
        while todo:
            module = todo.popleft()
            for target in sorted(graph[module]):
                in_project = target in graph
                bad = (in_package(target, project) and target not in allowed) if in_project else target in outside
                if bad:
                    path, step = [target], module
                    while step is not None:
                        path.append(step)
                        step = came_from[step]
                    chains.append(" -> ".join(reversed(path)))
                elif in_project and target not in came_from:
                    came_from[target] = module
                    todo.append(target)
    return chains


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_folder_imports_stay_in_their_lane(folder: str) -> None:
    graph = import_graph(ROOT)
    assert any(in_package(m, {folder}) for m in graph), f"{folder}/ has no Python modules"
    chains = offending_chains(graph, folder)
    assert not chains, "\n".join(chains)


def test_the_project_graph_follows_relative_and_package_imports() -> None:
    graph = import_graph(ROOT)
    assert "resnet.jobs.server" in graph["resnet.jobs"]  # from resnet.jobs.server import ... in the __init__
    assert {"viz", "viz.runview"} <= graph["resnet.jobs.handles"]
    assert "resnet.jobs.server" not in graph["resnet.jobs.handles"]  # imported only for type hints


def test_checker_follows_a_chain_through_project_modules(tmp_path: Path) -> None:
    files = {
        "viz/__init__.py": "",
        "viz/figure.py": "import numpy\nfrom .helpers import smooth\n",
        "viz/helpers.py": "from . import deep\n",
        "viz/deep.py": "def smooth():\n    from torch import nn\n",  # a lazy import still runs
        "viz/runview.py": "import numpy\n",
        "viz/hints.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n",
        "resnet/__init__.py": "",
        "resnet/trainer.py": "from viz.runview import sample\nfrom resnet.store import keep\n",
        "resnet/store/__init__.py": "from ..talk import say\n",
        "resnet/talk.py": "import viz.figure\n",
        "resnet/cli.py": "import plotly\nimport streamlit\nfrom viz import figure\n",
        "pages/run.py": "import streamlit\nimport resnet.cli\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert offending_chains(graph, "viz") == ["viz.deep -> torch", "viz.figure -> viz.helpers -> viz.deep -> torch",
                                              "viz.helpers -> viz.deep -> torch"]
    chains = offending_chains(graph, "resnet")
    assert "resnet.trainer -> resnet.store -> resnet.talk -> viz.figure" in chains
    assert not [c for c in chains if c.startswith(("resnet.cli", "pages"))]  # front ends may import both
    assert not [c for c in chains if c.endswith("viz.runview")]
