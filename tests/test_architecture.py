"""The layers of docs/architecture.md hold: no import of a higher layer, no import cycle, no hidden import.

The layer table is read from docs/architecture.md itself (the rows after the ``layers`` comment), so the
document and this test cannot drift apart. Imports under ``if TYPE_CHECKING:`` are annotations only and do
not count. Importing ``a.b.c`` runs ``a.b`` first, so an import counts for the module and its parent
packages (except the packages the importing module itself sits in, which Python has already started).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

SRC = ROOT / "src"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def layer_table() -> dict[str, int]:
    """module prefix -> rank, from the table of docs/architecture.md."""
    text = ARCHITECTURE.read_text()
    rows = text[text.index("<!-- layers"):].split("\n\n")[0].splitlines()
    ranks: dict[str, int] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            for prefix in re.findall(r"`(sleitp[\w.]*)`", cells[2]):
                ranks[prefix] = int(cells[0])
    return ranks


def module_names() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = module_names()
RANKS = layer_table()


def rank_of(module: str) -> int:
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in RANKS:
            return RANKS[".".join(parts[:k])]
    raise AssertionError(f"{module} is in no layer of docs/architecture.md")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported sleitp module, line, at module level) of every import statement of ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    top = {id(n) for n in tree.body} | {id(n) for s in tree.body if isinstance(s, ast.If | ast.Try)
                                         for n in ast.walk(s)}
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.append(full if full in MODULES else base)
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        for t in targets:
            if t == "sleitp" or t.startswith("sleitp."):
                out.append((t, node.lineno, id(node) in top))
    return sorted(set(out))


def _with_parents(target: str, importer: str) -> list[str]:
    parts = target.split(".")
    own = {".".join(importer.split(".")[:k]) for k in range(1, importer.count(".") + 2)}
    chain = [".".join(parts[:k]) for k in range(2, len(parts) + 1)]
    return [m for m in chain if m in MODULES and m not in own]


def test_the_layer_table_covers_every_module():
    assert RANKS, "no layer table found in docs/architecture.md"
    for module in MODULES:
        rank_of(module)




def test_no_module_imports_a_higher_layer():
    upward = []
    for module in MODULES:
        for target, line, _ in imports(module):
            if rank_of(target) > rank_of(module):
                where = f"{MODULES[module].relative_to(ROOT)}:{line}"
                upward.append(f"{where}: {module} (layer {rank_of(module)}) imports {target} "
                              f"(layer {rank_of(target)})")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


def _said_why(lines: list[str], line: int) -> bool:
    """A '# lazy' comment on the import's line, in the block of imports it belongs to, or in the comment
    lines just above that block (one comment may explain a group of imports)."""
    i = line - 1
    while i >= 0 and (not lines[i].strip() or lines[i].strip().startswith(("from ", "import ", ")"))
                      or lines[i].rstrip().endswith(",")):
        if "# lazy" in lines[i]:
            return True
        i -= 1
    while i >= 0 and lines[i].strip().startswith("#"):
        if "# lazy" in lines[i]:
            return True
        i -= 1
    return False


def test_function_local_imports_say_why():
    hidden = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        for target, line, at_top in imports(module):
            if at_top:
                continue
            if not _said_why(lines, line):
                hidden.append(f"{path.relative_to(ROOT)}:{line}: imports {target} inside a function "
                              "without a '# lazy: why' comment")
    assert not hidden, "function-local imports of sleitp (move them up, or say why):\n" + "\n".join(hidden)


def test_no_import_cycles():
    graph = {m: sorted({p for t, _, _ in imports(m) for p in _with_parents(t, m)} - {m}) for m in MODULES}
    seen: dict[str, int] = {}  # 1 on the stack, 2 done
    cycles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        seen[m] = 1
        stack.append(m)
        for n in graph.get(m, []):
            if seen.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in seen:
                visit(n, stack)
        stack.pop()
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles[:20])
