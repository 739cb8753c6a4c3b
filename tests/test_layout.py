"""The package's layout stays readable: no import cycles among intricate's modules (counting
imports inside functions, which only hide a cycle), and no module over MAX_LINES lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "intricate"
MAX_LINES = 300


def module_name(path: Path, root: Path) -> str:
    """intricate/gpu/device.py -> intricate.gpu.device; a package's __init__.py is the package."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that the file at ``path`` imports anywhere in its body.

    ``from package import name`` counts as importing ``package.name`` when that is a module,
    else ``package`` (name is an attribute defined there); relative imports are resolved
    against the file's own package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # `import intricate.gpu.device` also runs intricate/__init__ and intricate.gpu,
            # but those edges are the parents' own imports; the edge here is to the module.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module of ``package`` -> the package's modules it imports."""
    files = {module_name(path, package.parent): path for path in sorted(package.rglob("*.py"))}
    return {name: imported_modules(path, name, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None: depth-first search with colours."""
    state: dict[str, str] = {}  # "open" while on the stack, "done" once fully explored
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                return stack[stack.index(successor):] + [successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_reports_the_path():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": set(), "b": {"b"}}) == ["b", "b"]


def test_the_graph_sees_relative_and_function_level_imports(tmp_path):
    package = tmp_path / "intricate"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .sub import leaf\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "leaf.py").write_text("def f():\n    from ..top import g\n")
    (package / "top.py").write_text("import intricate.sub.leaf\nfrom intricate import sub\n")
    graph = import_graph(package)
    assert graph == {"intricate": {"intricate.sub.leaf"}, "intricate.sub": set(),
                     "intricate.sub.leaf": {"intricate.top"},
                     "intricate.top": {"intricate.sub.leaf", "intricate.sub"}}
    assert find_cycle(graph) == ["intricate.sub.leaf", "intricate.top", "intricate.sub.leaf"]


def test_no_import_cycles():
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, (
        "import cycle: " + " -> ".join(cycle) + ". Move what both modules need into a third "
        "module, or pass it in as an argument; a function-level import only hides the cycle.")


def test_no_module_is_too_long():
    lengths = {path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
               for path in sorted(PACKAGE.rglob("*.py"))}
    too_long = {path: lines for path, lines in lengths.items() if lines > MAX_LINES}
    assert not too_long, (
        f"modules over {MAX_LINES} lines: "
        + ", ".join(f"{path} ({lines})" for path, lines in too_long.items())
        + ". Split each by concept (STYLE.md: keep modules small).")
