"""Import LanceDB without building the REST namespace client that a local index never uses.

``import lancedb`` imports ``lance_namespace``, which takes model classes from
``lance_namespace_urllib3_client.models``. Importing that subpackage first runs the parent package's
``__init__``, and it eagerly imports every generated REST API module. Their ``@validate_call``
decorators build pydantic schemas at import: 0.84 s of a 1.6–2.2 s ``import lancedb`` (measured with
``python -X importtime``, LanceDB 0.40.0, lance-namespace-urllib3-client 0.13.0).

Importing this module runs ``install()``, which puts a finder on ``sys.meta_path`` that creates that package with its real
``__path__`` but without running its ``__init__``: each name the ``__init__`` would have imported
resolves on first attribute access (PEP 562) from the submodule that defines it, and submodules import
as usual, so a REST namespace still works when someone uses one. When the ``__init__`` holds anything
but a docstring, constant assignments and ``from <package>.<module> import <name>`` lines (another
release), the package imports normally: only the timing changes, never the behaviour.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "lance_namespace_urllib3_client"


@dataclass(frozen=True)
class PackageExports:
    """What a package's ``__init__`` would bind: constants, and names imported from its submodules."""

    constants: dict[str, Any]
    names: dict[str, tuple[str, str]]  # exported name → (submodule, name in that submodule), in import order


def read_exports(package: str, init: Path) -> PackageExports | None:
    """The exports of ``init``, or None when it does anything else (then the package imports normally)."""
    try:
        tree = ast.parse(init.read_text(encoding="utf-8"), str(init))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    constants: dict[str, Any] = {}
    names: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # the docstring
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
        ):
            constants[node.targets[0].id] = node.value.value
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith(package + "."):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names[alias.asname or alias.name] = (node.module, alias.name)
        else:
            return None
    return PackageExports(constants, names) if names else None


class LazyPackageLoader(importlib.machinery.SourceFileLoader):
    """The package's own loader (source, resources), except that executing binds the constants and a
    module ``__getattr__`` instead of running the imports."""

    def __init__(self, fullname: str, path: str, exports: PackageExports) -> None:
        super().__init__(fullname, path)
        self.exports = exports

    def exec_module(self, module: ModuleType) -> None:
        exports = self.exports
        namespace = module.__dict__

        def resolve(name: str) -> Any:
            submodule, attribute = exports.names[name]
            value = getattr(importlib.import_module(submodule), attribute)
            namespace[name] = value
            return value

        def __getattr__(name: str) -> Any:
            if name in exports.names:
                return resolve(name)
            if name.startswith("__") and name != "__all__":
                raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
            # Anything else (a submodule the real __init__ imported on the way, or `import *` asking for
            # __all__): run every import the real __init__ runs, then answer as it would.
            for exported in exports.names:
                if exported not in namespace:
                    resolve(exported)
            if name in namespace:
                return namespace[name]
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

        def __dir__() -> list[str]:
            return sorted(set(namespace) | set(exports.names))

        namespace.update(exports.constants)
        namespace["__getattr__"] = __getattr__
        namespace["__dir__"] = __dir__


class LazyPackageFinder(importlib.abc.MetaPathFinder):
    """Finds ``package`` where the path finder would, and swaps in a ``LazyPackageLoader``."""

    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.package:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if (
            spec is None
            or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
            or not spec.submodule_search_locations
            or spec.origin is None
            or Path(spec.origin).name != "__init__.py"
        ):
            return None
        exports = read_exports(fullname, Path(spec.origin))
        if exports is None:
            return None
        spec.loader = LazyPackageLoader(fullname, spec.origin, exports)
        return spec


def install() -> None:
    """Make later imports of the REST client package lazy; a no-op once installed or once it is imported."""
    if PACKAGE in sys.modules or any(isinstance(f, LazyPackageFinder) and f.package == PACKAGE for f in sys.meta_path):
        return
    sys.meta_path.insert(0, LazyPackageFinder(PACKAGE))


install()
