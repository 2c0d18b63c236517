"""The layout stays true: `cli → indexer → gestsearch`, and inside the library each layer only
imports the layers below it (docs/architecture.md). Every import counts, also those inside
functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gestsearch", "indexer", "cli")  # lowest first: each may import only those before it

# Lowest first. A module may import modules of its own layer or of lower ones.
LAYERS = (
    ("constants", "text", "errors", "types", "atomic", "progress", "results", "filters", "vectors"),  # leaves: numbers, text, errors, modes, records, vector maths
    ("client",),  # HTTP to a server: results only, no models
    ("config", "assets", "runtime"),  # settings, the bundled model, the thread policy
    ("media", "synth"),  # media files in and out
    ("models", "features"),
    ("embedding",),
    ("store",),
    ("scoring", "ingest", "export"),
    ("search",),
    ("eval",),
    ("train",),
    ("api", "testing"),
    ("serve",),  # the resident service: API, media, web UI
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def library_layer(path: Path) -> str:
    """The first component below gestsearch/ (``gestsearch/store/db.py`` → ``store``)."""
    part = path.relative_to(ROOT / "gestsearch").parts[0]
    return part.removesuffix(".py")


@pytest.mark.parametrize("package", PACKAGES)
def test_top_level_packages_point_one_way(package: str) -> None:
    higher = PACKAGES[PACKAGES.index(package) + 1 :]
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in modules(package)
        for line, module in imports(path)
        if module.split(".")[0] in higher
    ]
    assert not wrong, "\n".join(wrong)


def test_every_library_module_has_a_layer() -> None:
    unplaced = {library_layer(p) for p in modules("gestsearch")} - set(RANK) - {"__init__"}
    assert not unplaced, f"add these to LAYERS (and docs/architecture.md): {sorted(unplaced)}"


def test_library_layers_import_downwards_only() -> None:
    wrong = []
    for path in modules("gestsearch"):
        own = library_layer(path)
        if own == "__init__":
            continue
        for line, module in imports(path):
            parts = module.split(".")
            if parts[0] != "gestsearch" or len(parts) < 2:
                continue
            if RANK[parts[1]] > RANK[own]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {module} ({parts[1]}, a higher layer)")
    assert not wrong, "\n".join(wrong)


def test_the_package_root_imports_nothing_heavy() -> None:
    """``import gestsearch`` must stay cheap: its entry points load on first use."""
    assert all(module in ("__future__", "importlib", "typing") for _, module in imports(ROOT / "gestsearch" / "__init__.py"))
