"""The layering rule of docs/architecture.md, checked on the source: who may import whom, no cycles, no runtime code
importing tests, and a torch-free core and board side (imported here with torch made unimportable)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", ".git", "build", "sim_build", "out", "runs", "node_modules", "tests"}

# What each layer may import of fpgagen (besides itself). Lazy imports inside functions count too: they are
# still dependencies. The first matching prefix rules.
ALLOWED: list[tuple[str, set[str]]] = [
    ("fpgagen.core", set()),
    ("fpgagen.overlays", {"fpgagen.core"}),
    ("fpgagen.models", {"fpgagen.core", "fpgagen.overlays"}),  # the torch front end
    ("fpgagen.hls", {"fpgagen.core", "fpgagen.overlays"}),  # the HLS back end
    ("fpgagen.rtl", {"fpgagen.core", "fpgagen.overlays"}),  # the RTL back end
    ("fpgagen.host.driver", {"fpgagen.core"}),  # board side: numpy + pynq
    # the virtual board stands in for any board; its rtlsim kernel plugs in the RTL back end's simulator
    ("fpgagen.host.virtual_board", {"fpgagen.core", "fpgagen.overlays", "fpgagen.host.driver", "fpgagen.rtl"}),
    # executors and the comparison drive every target: front end and back ends through their public modules
    ("fpgagen.host", {"fpgagen.core", "fpgagen.overlays", "fpgagen.models", "fpgagen.hls", "fpgagen.rtl"}),
    ("fpgagen.cli", {"fpgagen.core", "fpgagen.overlays", "fpgagen.models", "fpgagen.hls", "fpgagen.rtl",
                     "fpgagen.host"}),
    ("fpgagen.bench", {"fpgagen.core", "fpgagen.overlays", "fpgagen.models", "fpgagen.hls", "fpgagen.rtl",
                       "fpgagen.host"}),
    ("fpgagen.sim", {"fpgagen.core", "fpgagen.overlays", "fpgagen.models", "fpgagen.rtl"}),  # cocotb tests
    ("fpgagen.notebooks", set()),
    ("fpgagen", set()),
]
# Board side: imported where torch (and every other workstation package) is absent.
BOARD_SIDE = ["fpgagen.core.fixed", "fpgagen.core.layers", "fpgagen.core.quantized_model", "fpgagen.core.golden",
              "fpgagen.core.float_model", "fpgagen.core.latents", "fpgagen.core.manifest", "fpgagen.core.quantize",
              "fpgagen.overlays.boards", "fpgagen.host.driver", "fpgagen.host.virtual_board", "fpgagen.host.executors"]
WORKSTATION_ONLY = ["torch", "hls4ml", "cocotb", "cocotb_tools", "cocotbext", "sklearn", "safetensors", "keras"]


def is_test(rel: Path) -> bool:
    return rel.parts[0] == "tests" or rel.name.startswith("test_") or rel.name == "conftest.py"


def modules() -> dict[str, Path]:
    found = {}
    for f in ROOT.rglob("*.py"):
        rel = f.relative_to(ROOT)
        if any(p in SKIP or p.startswith(".") for p in rel.parts[:-1]):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(["fpgagen", *parts])] = rel
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """fpgagen module -> the fpgagen modules it imports (anywhere in the file; a module named in a string, as
    for importlib or cocotb's runner, counts)."""

    def resolve(name: str) -> str | None:
        while name:
            if name in mods:
                return name
            name = name.rpartition(".")[0]
        return None

    edges = {}
    for name, rel in mods.items():
        package = name if rel.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse((ROOT / rel).read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets |= {base} | {f"{base}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in mods:
                targets.add(node.value)
        edges[name] = {t for t in map(resolve, targets) if t and t != name}
    return edges


def layer_of(module: str) -> tuple[str, set[str]]:
    for prefix, allowed in ALLOWED:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, allowed
    raise AssertionError(f"{module} belongs to no layer of ALLOWED")


@pytest.fixture(scope="module")
def graph():
    mods = modules()
    runtime = {m for m, rel in mods.items() if not is_test(rel)}
    return mods, runtime, imports(mods)


def layering_violations(edges: dict[str, set[str]], runtime: set[str]) -> list[str]:
    wrong = []
    for m in sorted(runtime):
        prefix, allowed = layer_of(m)
        for t in sorted(edges[m]):
            if t == prefix or t.startswith(prefix + ".") or t == "fpgagen":
                continue
            if not any(t == a or t.startswith(a + ".") for a in allowed):
                wrong.append(f"{m} imports {t}")
    return wrong


def import_cycles(edges: dict[str, set[str]], runtime: set[str]) -> list[list[str]]:
    """Strongly connected components (Tarjan) of more than one runtime module; a package and its own module
    (through __init__) are not a cycle of design."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v] & runtime):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 and not (len(component) == 2 and min(component) in max(component)):
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(runtime):
        if v not in index:
            visit(v)
    return cycles


def test_each_layer_imports_only_what_it_may(graph):
    mods, runtime, edges = graph
    assert layering_violations(edges, runtime) == []


def test_no_runtime_module_imports_a_test(graph):
    mods, runtime, edges = graph
    assert [f"{m} imports {t}" for m in sorted(runtime) for t in sorted(edges[m]) if is_test(mods[t])] == []


def test_no_import_cycles(graph):
    mods, runtime, edges = graph
    assert import_cycles(edges, runtime) == []


def test_the_checks_report_a_new_violation_and_cycle(graph):
    mods, runtime, edges = graph
    bad = {**edges, "fpgagen.hls.csim": edges["fpgagen.hls.csim"] | {"fpgagen.host.executors"},
           "fpgagen.core.fixed": edges["fpgagen.core.fixed"] | {"fpgagen.core.golden"}}
    new = set(layering_violations(bad, runtime)) - set(layering_violations(edges, runtime))
    assert new == {"fpgagen.hls.csim imports fpgagen.host.executors"}
    assert any({"fpgagen.core.fixed", "fpgagen.core.golden"} <= set(c) for c in import_cycles(bad, runtime))


IMPORT_ALL = """
    import importlib

    for module in sys.argv[1].split(","):
        importlib.import_module(module)
    print("LOADED", sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED))
"""


def test_core_and_board_side_import_without_torch(without):
    proc = without(WORKSTATION_ONLY, IMPORT_ALL, ",".join(BOARD_SIDE), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LOADED []" in proc.stdout
