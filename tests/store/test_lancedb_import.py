"""`import gestsearch.store` loads LanceDB without its REST namespace client, and nothing else changes.

Each check that depends on what a process has imported runs in a fresh interpreter.
"""

from __future__ import annotations

import ast
import importlib.machinery
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gestsearch.store.lancedb_import import PACKAGE, LazyPackageFinder, LazyPackageLoader, read_exports

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _real_init() -> Path:
    spec = importlib.machinery.PathFinder.find_spec(PACKAGE)
    return Path(spec.origin)


def test_a_local_index_never_imports_the_rest_client(tmp_path):
    found = _run(f"""
        import json, sys
        import numpy as np
        from gestsearch.store import GestureStore
        from gestsearch.testing.store import synthetic_video
        import lancedb

        root = {str(tmp_path)!r}
        with GestureStore.open(root + "/db", fingerprint="fp", create=True) as store:
            video, clips = synthetic_video(root + "/a.mp4", "fp", n_clips=3)
            store.add_video(video, clips)
        with GestureStore.open(root + "/db", read_only=True) as store:
            ids = {{backend: store.search_pooled(clips[1].gesture, 1, backend=backend)[0][0, 0].item()
                   for backend in ("faiss", "lance")}}

        db = lancedb.connect(root + "/raw")
        table = db.create_table("t", data=[{{"id": i, "vector": np.eye(4, dtype=np.float32)[i]}} for i in range(4)])
        table.add([{{"id": 4, "vector": np.array([0, 0, 1, 1], np.float32)}}])
        hit = table.search(np.array([0, 0.1, 1, 1], np.float32)).limit(1).to_list()[0]["id"]

        print(json.dumps({{
            "ids": ids, "want": clips[1].clip_id, "hit": hit, "rows": table.count_rows(),
            "loader": type(sys.modules["{PACKAGE}"].__loader__).__name__,
            "rest": sorted(m for m in sys.modules if m.startswith("{PACKAGE}.api") or m.split(".")[0] == "urllib3"),
        }}))
    """)
    assert found["ids"] == {"faiss": found["want"], "lance": found["want"]}
    assert (found["hit"], found["rows"]) == (4, 5)
    assert found["loader"] == LazyPackageLoader.__name__
    assert found["rest"] == []


def test_the_lazy_package_exports_what_the_real_one_does():
    """Every name of the real ``__init__`` resolves to the defining submodule's object; after
    ``import *`` the package holds the same public names as an eager import; the REST client still builds."""
    names = {
        alias.asname or alias.name: (node.module, alias.name)
        for node in ast.parse(_real_init().read_text()).body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert len(names) > 100
    eager = _run(f"""
        import json, {PACKAGE} as package
        print(json.dumps({{"public": sorted(n for n in vars(package) if not n.startswith("_")),
                          "version": package.__version__}}))
    """)
    lazy = _run(f"""
        import importlib, json, sys
        import gestsearch.store
        import lancedb
        import {PACKAGE} as package

        names = {names!r}
        before = sorted(m for m in sys.modules if m.startswith("{PACKAGE}.api"))
        listed = set(dir(package))
        wrong = [n for n, (module, attribute) in names.items()
                 if getattr(package, n) is not getattr(importlib.import_module(module), attribute)]
        from {PACKAGE} import *
        import {PACKAGE}.api.table_api
        client = ApiClient(Configuration(host="http://127.0.0.1:9"))
        table_api = {PACKAGE}.api.table_api.TableApi(client)
        print(json.dumps({{
            "before": before, "unlisted": sorted(set(names) - listed), "wrong": wrong,
            "public": sorted(n for n in vars(package) if not n.startswith("_")),
            "version": package.__version__, "same_class": type(table_api) is TableApi,
            "loader": type(package.__loader__).__name__,
        }}))
    """)
    assert lazy["loader"] == LazyPackageLoader.__name__
    assert lazy["before"] == []
    assert lazy["unlisted"] == [] and lazy["wrong"] == []
    assert lazy["public"] == eager["public"]
    assert lazy["version"] == eager["version"]
    assert lazy["same_class"]


@pytest.fixture
def make_package(tmp_path, monkeypatch):
    """Writes a package ``name`` with an ``__init__`` and a submodule ``a`` defining ``A``; forgets it after."""
    made = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(name: str, init: str) -> LazyPackageFinder:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(textwrap.dedent(init))
        (tmp_path / name / "a.py").write_text("A = object()\n")
        made.append(name)
        finder = LazyPackageFinder(name)
        monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
        return finder

    yield make
    for name in made:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


def test_exports_resolve_on_first_access(make_package):
    make_package("gs_lazy_probe", """
        \"\"\"Doc.\"\"\"
        __version__ = "1.2"
        from gs_lazy_probe.a import A
        from gs_lazy_probe.a import A as B
    """)
    import gs_lazy_probe

    assert gs_lazy_probe.__version__ == "1.2"
    assert "gs_lazy_probe.a" not in sys.modules
    assert gs_lazy_probe.B is sys.modules["gs_lazy_probe.a"].A
    assert gs_lazy_probe.A is gs_lazy_probe.B
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        gs_lazy_probe.missing  # noqa: B018


@pytest.mark.parametrize("extra", ["import os", "from gs_lazy_other.a import *", "def f():\n    pass", "if True:\n    X = 1"])
def test_any_other_init_imports_normally(make_package, tmp_path, extra):
    init = f"from gs_lazy_other.a import A\n{extra}\n"
    make_package("gs_lazy_other", init)
    assert read_exports("gs_lazy_other", tmp_path / "gs_lazy_other" / "__init__.py") is None
    import gs_lazy_other

    assert not isinstance(gs_lazy_other.__loader__, LazyPackageLoader)
    assert "gs_lazy_other.a" in sys.modules  # its __init__ ran
