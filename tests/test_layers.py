"""Imports inside `imdb_lstm/` go one way (../shared/DESIGN.md's layers): no cycle between package modules, no
package module imported inside a function, and training never imports what publishes or serves a saved model.

Run as a script (`python tests/test_layers.py`) it prints the figures the checks are about: modules, import edges,
in-function imports of package modules, and the cycles.
"""

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "imdb_lstm"
# Publishing and serving a saved model: the command layer chains them after training, never training itself.
NOT_FROM_TRAINING = ("imdb_lstm.hub", "imdb_lstm.cards", "imdb_lstm.explain", "imdb_lstm.onnx_export",
                     "imdb_lstm.demo")


def module_name(path: Path) -> str:
    """`imdb_lstm/training/common.py` → `imdb_lstm.training.common`; a package's `__init__.py` is the package."""
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def imported_modules(name: str, path: Path) -> list[tuple[str, bool, int]]:
    """(package module imported, whether inside a function, line) for each import in the file; an import of a name
    that is itself a module (`from . import explain`) counts as an import of that module."""
    found = []

    def target_of(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        return ".".join(package + ([node.module] if node.module else []))

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    target = alias.name
                    while target and target not in MODULES:
                        target = target.rpartition(".")[0]
                    if target:
                        found.append((target, in_function, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                target = target_of(child)
                for alias in child.names:
                    submodule = f"{target}.{alias.name}"
                    if submodule in MODULES:
                        found.append((submodule, in_function, child.lineno))
                    elif target in MODULES:
                        found.append((target, in_function, child.lineno))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return [(target, in_function, line) for target, in_function, line in found if target != name]


IMPORTS = {name: imported_modules(name, path) for name, path in MODULES.items()}
EDGES = {name: {target for target, _, _ in imports} for name, imports in IMPORTS.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted: every import cycle is
    inside one of them."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return components


def in_function_imports() -> list[str]:
    return [f"{MODULES[name].relative_to(PACKAGE_DIR.parent)}:{line} imports {target}"
            for name, imports in IMPORTS.items() for target, in_function, line in imports if in_function]


def report() -> str:
    """Modules, import edges (distinct importer → imported pairs), in-function imports of package modules (one per
    import statement and module) and the cycles."""
    lines = [f"modules: {len(MODULES)}", f"import edges: {sum(len(targets) for targets in EDGES.values())}",
             f"in-function imports of package modules: {len(set(in_function_imports()))}",
             f"cycles: {len(cycles(EDGES))}"]
    lines += [f"  cycle: {' <-> '.join(component)}" for component in cycles(EDGES)]
    lines += [f"  in function: {entry}" for entry in sorted(set(in_function_imports()))]
    return "\n".join(lines)


def test_the_walk_sees_the_package():
    assert {"imdb_lstm.predict", "imdb_lstm.training.finetune", "imdb_lstm.hub"} <= set(MODULES)
    assert "imdb_lstm.configuration_imdb_lstm" in EDGES["imdb_lstm.modeling_imdb_lstm"]


def test_no_import_cycle_between_package_modules():
    assert cycles(EDGES) == []


def test_no_package_module_imported_inside_a_function():
    # In-function imports are for optional third-party dependencies (captum, gradio, onnx, gensim) only.
    assert in_function_imports() == []


def test_training_never_imports_publishing_or_serving():
    reached = {name: sorted(EDGES[name] & set(NOT_FROM_TRAINING)) for name in MODULES
               if name.startswith("imdb_lstm.training")}
    assert {name: targets for name, targets in reached.items() if targets} == {}


if __name__ == "__main__":
    print(report())
