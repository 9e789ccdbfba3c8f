"""One name per concept: a function that is not a method (module-level or nested) is defined once in all of
src/paddler, so a name found anywhere in the tree leads to one job. Methods may share a name across
classes when they do the same job (close, get, push, start...)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "paddler"
# Program entry points: `paddler` and `python -m paddler.default_model`.
ENTRY_POINTS = frozenset({"main"})


def _functions(tree: ast.AST, in_class: bool = False) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if not in_class:
                found.append(node)
            found.extend(_functions(node, in_class=False))
        elif isinstance(node, ast.ClassDef):
            found.extend(_functions(node, in_class=True))
        else:
            found.extend(_functions(node, in_class))
    return found


def test_no_two_functions_share_a_name() -> None:
    places: dict[str, list[str]] = defaultdict(list)
    for path in sorted(SOURCE.rglob("*.py")):
        for function in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            places[function.name].append(f"{path.relative_to(SOURCE)}:{function.lineno}")
    shared = {name: where for name, where in places.items() if len(where) > 1 and name not in ENTRY_POINTS}
    assert shared == {}


def test_the_check_sees_module_level_and_nested_functions_but_not_methods() -> None:
    tree = ast.parse("def a():\n    def b(): ...\nclass C:\n    def m(self):\n        def d(): ...\n")
    assert sorted(function.name for function in _functions(tree)) == ["a", "b", "d"]
