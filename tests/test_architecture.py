"""The plan of the house (docs/architecture.md), checked: a failure names the file and the line.

Read from the source (`ast`), nothing imported. The layers, imports pointing down only:

1. base contracts (`BASE`): import only each other;
2. the door `ranker.hub` and the store `ranker.store`: base and themselves, never each other;
3. the rooms (`ROOMS`): base, hub, store and themselves, never another room; `requests` may use
   crawl's public API; `executors` are evaluate's runners (one room);
4. orchestration (`ORCHESTRATION`): anything but `ranker.testing` (only `cli` and `demo`,
   which runs `ranker demo` on the loopback hub, may use it);
5. `ranker.testing`: anything. A `__main__` module may also import `ranker.cli`.

Also: no module imports a private (`_x`) name of another module, by `from ... import _x` or as
`module._x`; no module but the store's names a file or folder of `data/`; every module is
under `MAX_MODULE_LINES` lines, every function under `MAX_FUNCTION_LINES`. Each check is shown
able to fail on a small synthetic package (the `test_*_catches_*` tests).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ranker"

BASE = frozenset(
    {"errors", "records", "jsonlimits", "protocol", "bits", "urls", "repofiles", "timestamps",
     "explain", "cachedir", "ft_protocol"}
)  # fmt: skip
HUB, STORE, TESTING, CLI = "hub", "store", "testing", "cli"
# room -> the rooms it is one with (executors are evaluate's runners)
ROOMS = {
    "crawl": "crawl",
    "evaluate": "evaluate",
    "executors": "evaluate",
    "build": "build",
    "requests": "requests",
}
ORCHESTRATION = frozenset({"pipeline", "merge", "demo", "verify", CLI})
MAY_USE_TESTING = frozenset({CLI, "demo", TESTING})
# A room that may use another room's public API (what its package exports, not its modules):
# requests checks a model as the crawl would.
PUBLIC_API = {"requests": frozenset({"crawl"})}

# What the store alone knows (its names in ranker/store/: ARCHITECTURES, CATALOG, LEGACY_*,
# RESULTS_DIR, PROBE_PIN, CRAWL_STATE, the requests file; and the old one-file results.jsonl):
# its files, by name anywhere in a string, and its folders, as the first part of a path, a part
# of `data/...`, or a constant a path is joined with.
STORE_OWNS = ("ranker/store/",)
DATA_FILES = (
    "architectures.toml", "catalog.jsonl", "results.jsonl", "requests.jsonl", "probe.json",
    "crawl_state.json", "models.csv", "baselines.csv", "meta.json", "finetunes.jsonl",
    "verify.json",
)  # fmt: skip
DATA_FOLDERS = ("results", "legacy")
_NAME_EDGE = r"[\w.-]"
DATA_FILE_RE = re.compile(
    rf"(?<!{_NAME_EDGE})(?:{'|'.join(map(re.escape, DATA_FILES))})(?!{_NAME_EDGE})"
)
DATA_FOLDER_RE = re.compile(
    rf"(?<![\w./-])(?:{'|'.join(DATA_FOLDERS)})/|(?<!{_NAME_EDGE})data/(?:{'|'.join(DATA_FOLDERS)})\b"
)

MAX_MODULE_LINES = 500  # a module has fewer
MAX_FUNCTION_LINES = 60  # a function has fewer (from `def` to its last line)


@dataclass(frozen=True)
class Module:
    """One source file of the package: its dotted name, path and parsed tree."""

    name: str
    path: Path
    text: str
    tree: ast.Module

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def part(self) -> str:
        """The top-level part of the package it belongs to (`crawl` for ranker.crawl.run)."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else ""

    def where(self, node: ast.AST | int, root: Path) -> str:
        line = node if isinstance(node, int) else getattr(node, "lineno", 0)
        return f"{self.path.relative_to(root.parent).as_posix()}:{line}"


def modules(root: Path = PACKAGE) -> list[Module]:
    """Every module under `root` (a package folder), parsed, sorted by path."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        text = path.read_text(encoding="utf-8")
        found.append(Module(".".join(parts), path, text, ast.parse(text, filename=str(path))))
    return found


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_module(root: Path, dotted: str) -> bool:
    """Whether `dotted` (ranker.x.y) is a module or package of the tree at `root`."""
    parts = dotted.split(".")[1:]
    target = root.joinpath(*parts) if parts else root
    return target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()


def imports(module: Module, root: Path) -> Iterator[tuple[ast.AST, str]]:
    """(node, imported ranker module) for each import of the package, lazy ones included; a
    name imported from a package counts as its module when it is one."""
    package = root.name
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == package:
                    yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            if source.split(".")[0] != package:
                continue
            for alias in node.names:
                child = f"{source}.{alias.name}"
                yield node, child if _is_module(root, child) else source


# -- the checks: each returns "file:line: what is wrong" lines ----------------------------------


def _layer(part: str) -> str | None:
    """The layer of a top-level part of the package ("" is the package root: the version)."""
    if part == "" or part in BASE:
        return "base"
    if part == "__main__":
        return "main"
    if part in (HUB, STORE, TESTING):
        return part
    if part in ORCHESTRATION or part.startswith("verify_"):  # `ranker verify`'s modules
        return "orchestration"
    return "room" if part in ROOMS else None


def _allowed(module: Module, target: str, imported: str) -> bool:
    """Whether `module` may import `imported`, a module of the top-level part `target`."""
    mine, layer = module.part, _layer(module.part)
    if module.name.split(".")[-1] == "__main__" and target == CLI:
        return True  # `python -m ranker[.x]` runs the CLI
    if target == mine or _layer(target) == "base":
        return True
    if layer == TESTING:
        return True
    if layer == "orchestration":
        return target != TESTING or mine in MAY_USE_TESTING
    if layer == "room":
        return (
            target in (HUB, STORE)
            or ROOMS.get(target) == ROOMS[mine]
            or (target in PUBLIC_API.get(mine, ()) and imported.split(".")[1:] == [target])
        )
    return False  # base, hub, store and main import only the base (and themselves)


def check_layers(root: Path = PACKAGE) -> list[str]:
    """Imports point down the layers; every module has a place in the plan."""
    bad = []
    for module in modules(root):
        if _layer(module.part) is None:
            bad.append(f"{module.where(1, root)}: {module.name} has no place in the plan")
            continue
        for node, target in imports(module, root):
            part = target.split(".")[1] if "." in target else ""
            if part and _layer(part) is None:
                continue  # reported where that module is
            if not _allowed(module, part, target):
                bad.append(f"{module.where(node, root)}: {module.name} imports {target}")
    return bad


def _private_parts(target: str, importer: str) -> list[str]:
    """The private modules on the way to `target` that `importer` is not inside."""
    parts = target.split(".")
    return [
        ".".join(parts[: i + 1])
        for i, part in enumerate(parts)
        if _is_private(part) and not _inside(importer, ".".join(parts[:i]))
    ]


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _module_aliases(module: Module, root: Path) -> dict[str, str]:
    """Local name -> the package's module it is bound to by an import."""
    aliases = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == root.name:
                    local = alias.asname or alias.name.split(".")[0]
                    aliases[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            for alias in node.names:
                child = f"{source}.{alias.name}"
                if source.split(".")[0] == root.name and _is_module(root, child):
                    aliases[alias.asname or alias.name] = child
    return aliases


def _dotted(node: ast.AST) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else [*inner, node.attr]
    return None


def check_private_names(root: Path = PACKAGE) -> list[str]:
    """No module imports another module's private name, by import or as `module._x`."""
    bad = []
    for module in modules(root):
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom):
                source = _resolve(module, node)
                if source.split(".")[0] != root.name or source == module.name:
                    continue
                names = [a.name for a in node.names if _is_private(a.name)]
                names += _private_parts(source, module.name)
            elif isinstance(node, ast.Import):
                names = [p for a in node.names for p in _private_parts(a.name, module.name)]
                names = [n for n in names if n.split(".")[0] == root.name]
            else:
                continue
            bad += [f"{module.where(node, root)}: {module.name} imports {n}" for n in names]
        bad += _private_attributes(module, root)
    return bad


def _private_attributes(module: Module, root: Path) -> list[str]:
    aliases = _module_aliases(module, root)
    bad = []
    for node in ast.walk(module.tree):
        if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
            continue
        chain = _dotted(node.value)
        if not chain or chain[0] not in aliases:
            continue
        target = ".".join([aliases[chain[0]], *chain[1:]])
        if _is_module(root, target) and target != module.name:
            bad.append(f"{module.where(node, root)}: {module.name} uses {target}.{node.attr}")
    return bad


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string constants that are statements (docstrings), not values."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _owned_by_store(module: Module, root: Path) -> bool:
    rel = module.path.relative_to(root.parent).as_posix()
    return any(rel == owner or rel.startswith(owner) for owner in STORE_OWNS)


def check_data_names(root: Path = PACKAGE) -> list[str]:
    """Only the store names a file or folder of `data/` (strings; docstrings do not count)."""
    bad = []
    for module in modules(root):
        if _owned_by_store(module, root):
            continue
        skip = _docstrings(module.tree)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in skip:
                    continue
                found = DATA_FILE_RE.search(node.value) or DATA_FOLDER_RE.search(node.value)
                if found:
                    bad.append(f"{module.where(node, root)}: names {found.group(0)!r}")
            elif (folder := _joins_data_folder(node)) is not None:
                bad.append(f"{module.where(node, root)}: joins a path with {folder!r}")
    return bad


PATH_JOINS = frozenset({"Path", "PurePath", "joinpath", "join"})


def _joins_data_folder(node: ast.AST) -> str | None:
    """The data folder a path is joined with: `x / "results"`, `Path(x, "legacy")`,
    `x.joinpath("results")`, `os.path.join(x, "results")`; None for anything else."""
    parts: list[ast.expr] = []
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        parts = [node.right]
    elif isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        parts = list(node.args) if name in PATH_JOINS else []
    for part in parts:
        if isinstance(part, ast.Constant) and part.value in DATA_FOLDERS:
            return str(part.value)
    return None


def check_sizes(root: Path = PACKAGE) -> list[str]:
    """Every module under MAX_MODULE_LINES lines, every function under MAX_FUNCTION_LINES."""
    bad = []
    for module in modules(root):
        lines = len(module.text.splitlines())
        if lines >= MAX_MODULE_LINES:
            bad.append(f"{module.where(1, root)}: {lines} lines (< {MAX_MODULE_LINES})")
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length >= MAX_FUNCTION_LINES:
                    bad.append(
                        f"{module.where(node, root)}: {node.name} is {length} lines "
                        f"(< {MAX_FUNCTION_LINES})"
                    )
    return bad


# -- the plan, on the real package ---------------------------------------------------------------


def _report(what: str, offences: list[str]) -> str:
    return f"{len(offences)} {what}:\n" + "\n".join(offences)


def test_imports_point_down_the_layers() -> None:
    offences = check_layers()
    assert not offences, _report("imports against the plan", offences)


def test_no_module_imports_a_private_name_of_another() -> None:
    offences = check_private_names()
    assert not offences, _report("private names used from outside", offences)


def test_only_the_store_names_data_files() -> None:
    offences = check_data_names()
    assert not offences, _report("names of data/ outside ranker/store", offences)


def test_modules_and_functions_are_small() -> None:
    offences = check_sizes()
    assert not offences, _report("modules or functions too long", offences)


# -- each check can fail: a small synthetic package -----------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package `ranker` under tmp_path holding `files` (path -> source), with every folder
    a package."""
    root = tmp_path / "ranker"
    for name, source in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in path.relative_to(root).parents:
            (root / folder / "__init__.py").touch()
        path.write_text(source, encoding="utf-8")
    return root


def _lines(offences: list[str]) -> list[str]:
    """ "ranker/x.py:3" of each offence, to compare."""
    return sorted(o.split(": ")[0] for o in offences)


def test_layers_check_catches_rooms_that_import_each_other(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "errors.py": "import json\n",
        "records.py": "from ranker.errors import X\nfrom ranker.store import Store\n",
        "store/__init__.py": "from ranker import errors\nfrom ranker.hub import Hub\n",
        "hub/__init__.py": "from . import wire\n",
        "hub/wire.py": "from ranker.records import Y\n",
        "crawl/__init__.py": "from ranker.crawl.run import crawl\n",
        "crawl/run.py": "from ranker.hub import Hub\nfrom ranker.store import Store\n",
        "build/site.py": "def f():\n    from ranker.evaluate import run\n",
        "evaluate/run.py": "from ranker.executors import ray\nfrom ..pipeline import update\n",
        "executors/ray.py": "import ranker.evaluate.run\n",
        "requests/check.py": (
            "from ranker.crawl import crawl\n"
            "from ranker.build import site\n"
            "from ranker.crawl.run import crawl\n"
            "import ranker.crawl\n"
        ),
        "pipeline.py": "from ranker import crawl, build\nfrom ranker.testing import hub\n",
        "cli/demo.py": "from ranker.testing.hub import FakeHub\nfrom ranker.pipeline import u\n",
        "testing/hub.py": "from ranker.cli import demo\n",
        "__main__.py": "from ranker.cli import main\n",
        "build/__main__.py": "from ranker.cli.demo import main\n",
        "attic.py": "x = 1\n",
    })  # fmt: skip
    assert _lines(check_layers(root)) == [
        "ranker/attic.py:1",  # no place in the plan
        "ranker/build/site.py:2",  # a room imports another room (lazily too)
        "ranker/evaluate/run.py:2",  # a room imports the orchestration
        "ranker/pipeline.py:2",  # only the cli and the demo use ranker.testing
        "ranker/records.py:2",  # the base imports the store
        "ranker/requests/check.py:2",  # requests may use crawl's API, not the build
        "ranker/requests/check.py:3",  # ... and not the crawl's modules
        "ranker/store/__init__.py:2",  # the store imports the door
    ]


def test_private_names_check_catches_imports_and_attributes(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "store/__init__.py": "from ranker.store.codec import decode\nfrom ._rows import r\n",
        "store/_rows.py": "_cache = {}\n",
        "store/codec.py": "def decode(): ...\ndef _raw(): ...\n",
        "crawl/run.py": (
            "from ranker.store.codec import _raw\n"
            "from ranker.store._rows import r\n"
            "import ranker.store.codec as codec\n"
            "from ranker.store import codec as c2\n"
            "codec._raw()\n"
            "c2._raw()\n"
            "codec.decode()\n"
            "self._state = 1\n"
        ),
        "crawl/__init__.py": "from ranker import __version__\nimport ranker.store._rows\n",
        "evaluate/run.py": "import ranker\nranker.store.codec._raw()\n_own = 1\n",
    })  # fmt: skip
    assert _lines(check_private_names(root)) == [
        "ranker/crawl/__init__.py:2",  # a private module of another package
        "ranker/crawl/run.py:1",  # a private name
        "ranker/crawl/run.py:2",  # a private module
        "ranker/crawl/run.py:5",  # module._x, the module imported with `as`
        "ranker/crawl/run.py:6",  # module._x, the module imported by `from`
        "ranker/evaluate/run.py:2",  # module._x through the package's attributes
    ]


def test_data_names_check_catches_paths_outside_the_store(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "store/results.py": 'RESULTS_DIR = "results"\nCATALOG = "catalog.jsonl"\n',
        "build/site.py": (
            '"""Reads data/catalog.jsonl (a docstring: not counted)."""\n'
            "def f(data):\n"
            '    """results/ and probe.json: still a docstring."""\n'
            '    a = data / "catalog.jsonl"\n'
            '    b = data / "results"\n'
            '    c = f"{data}/legacy/meta.json"\n'
            '    d = "see data/results for more"\n'
            '    e = {"results": 1, "legacy": 2, "kind": "catalog"}\n'
            '    g = "bench/results/x.json" + "probe.jsonl" + "my_probe.json"\n'
            '    h = "the crawl_state.json hint"\n'
            '    i = Path(data, "legacy"), data.joinpath("results"), os.path.join(data, "results")\n'
            '    j = ", ".join(["results"]), data / "site", Path("results.md")\n'
        ),
    })  # fmt: skip
    assert _lines(check_data_names(root)) == [
        "ranker/build/site.py:10",
        "ranker/build/site.py:11",
        "ranker/build/site.py:11",
        "ranker/build/site.py:11",
        "ranker/build/site.py:4",
        "ranker/build/site.py:5",
        "ranker/build/site.py:6",
        "ranker/build/site.py:7",
    ]


def test_sizes_check_catches_long_modules_and_functions(tmp_path: Path) -> None:
    long_function = "def long():\n" + "    x = 1\n" * (MAX_FUNCTION_LINES - 1)
    short_function = "def short():\n" + "    x = 1\n" * (MAX_FUNCTION_LINES - 2)
    root = _package(tmp_path, {
        "build/long.py": long_function,
        "build/short.py": short_function,
        "build/big.py": "x = 1\n" * MAX_MODULE_LINES,
        "build/fits.py": "x = 1\n" * (MAX_MODULE_LINES - 1),
        "build/nested.py": "class A:\n    def m(self):\n" + "        x = 1\n" * 60,
    })  # fmt: skip
    assert _lines(check_sizes(root)) == [
        "ranker/build/big.py:1",
        "ranker/build/long.py:1",
        "ranker/build/nested.py:2",
    ]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("catalog.jsonl", True), ("data/requests.jsonl", True), ("legacy/source", True),
        ("results/ab.jsonl", True), ("a crawl_state.json", True), ("`probe.json`", True),
        ("catalog", False), ("results", False), ("bench/results/x", False),
        ("catalog.jsonl.tmp", False), ("site/meta.jsonp", False), ("mydata/results", False),
    ],
)  # fmt: skip
def test_data_name_patterns(text: str, named: bool) -> None:
    assert bool(DATA_FILE_RE.search(text) or DATA_FOLDER_RE.search(text)) is named
