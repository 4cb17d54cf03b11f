"""The project's imports run one way: no cycle between modules, no layer importing upward.

Every import statement counts, at the top of a module or inside a function (an import moved
into a function to dodge a cycle is still a cycle), and so does `importlib.import_module`
of a literal name. The layers are refad < adapters < cases < reports < testing (the short
public path of the parity suite). `__main__.py` entry points are left out of the cycle
check: nothing imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("refad", "adapters", "cases", "reports", "testing")
# The names the folders install under, and the names they are imported by in the tree.
ALIASES = {"refad.adapters": "adapters", "refad.cases": "cases", "refad.reports": "reports",
           "refad.testing": "testing"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _canonical(name: str) -> str:
    for installed, folder in ALIASES.items():
        if name == installed or name.startswith(installed + "."):
            return folder + name[len(installed):]
    return name


def _project_module(name: str) -> str | None:
    """The project module `name` refers to (a package's __init__ for a package), or None."""
    name = _canonical(name)
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> set[str]:
    """The project modules `module` imports, anywhere in its text."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from package import module` imports the module; `from module import name`
            # the module (a package's __init__ runs before any of its modules, so it is
            # not an edge of its own).
            for alias in node.names:
                child = _canonical(f"{base}.{alias.name}")
                names.append(child if child in MODULES else base)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        for name in names:
            found = _project_module(name)
            if found is not None and found != module:
                targets.add(found)
    return targets


GRAPH = {module: _imports(module) for module in MODULES}


def _bare_names(module: str) -> list[str]:
    """Imports of `adapters`, `cases` or `reports` by their folder names, not as installed."""
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in ALIASES.values()]
    return found


def test_every_import_uses_the_installed_name():
    """`refad.adapters`, never `adapters`: the folders install under refad only."""
    bare = {module: names for module in MODULES if (names := _bare_names(module))}
    assert not bare, f"imports by folder name instead of refad.*: {bare}"


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_no_layer_imports_upward():
    upward = sorted(f"{module} imports {target}" for module, targets in GRAPH.items()
                    for target in targets if _layer(target) > _layer(module)
                    and not module.endswith("__main__"))
    assert not upward, "imports against the layer order refad < adapters < cases < reports:\n" \
        + "\n".join(upward)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph = {m: sorted(t for t in targets if not t.endswith("__main__"))
             for m, targets in GRAPH.items() if not m.endswith("__main__")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
                continue
            if child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_import_cycles():
    cycles = _cycles()
    assert not cycles, "modules that import each other (directly or around a loop):\n" + \
        "\n".join(", ".join(component) for component in cycles)


@pytest.mark.parametrize("package", LAYERS)
def test_the_walk_sees_each_package(package):
    """The test can fail: every package has modules, and the engine's known edges are seen."""
    assert any(module.split(".")[0] == package for module in MODULES)
    assert "refad.node" in GRAPH["refad.registry"]


def test_the_command_line_starts_without_numpy():
    """`refad --help` loads argparse and the command line only: numpy, the engine and every
    framework are imported by the command that needs them (DESIGN.md: --help is instant)."""
    import subprocess
    import sys

    program = ("import sys, reports.cli; "
               "print(sorted(m for m in ('numpy', 'refad', 'torch', 'jax', 'pandas') "
               "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"imported at start-up: {done.stdout.strip()}"
