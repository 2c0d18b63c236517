"""Bad input through the real CLI: never a traceback, never a silent ignore.

Every case runs ``python -m cli.main …`` in a subprocess, as a user would, so exit codes and
stderr are the real ones, and checks:

* the exit code: 2 when the user caused the problem; 1 only for an ``index`` run that went on
  although some files failed (each named on a ``failed`` line with its reason); 0 for a run that
  continues (and then says what it did on a ``note`` line where something was left out);
* for exit 2: stderr is exactly one line, starting with ``error: ``;
* no "Traceback" anywhere in stdout or stderr;
* the index is intact afterwards: the same ``videos_indexed`` and ``clips`` as ``gestsearch info
  --json`` reports (read through the same ``GestureStore.info()``, in-process, to keep the matrix
  fast) and a text search still finds clips. The last test checks the shared index with the real
  ``gestsearch info --json`` and ``gestsearch search`` commands.

One index of a few tiny synthetic videos (bundled demo model) is built per session; cases that
may write copy it first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from gestsearch.media.encode import write_audio
from gestsearch.testing.media import pattern_frames, tone, write_video

pytestmark = pytest.mark.slow  # runs the CLI ~60 times

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "gestsearch" / "assets" / "tiny"
QUERY = "take a walk"
PHRASES = ["hello world take a walk", "mixing the hat numbers", "open the door slowly"]
NON_UTF8 = b"caf\xe9"
SHELL_NAME = "it's a \"talk\" $(touch pwned) `touch pwned2`; rm -rf x & [x] co"
CLI_TIMEOUT = 180


# ------------------------------------------------------------------------------ running the CLI


@dataclass
class Result:
    code: int
    raw_out: bytes
    raw_err: bytes

    @property
    def out(self) -> str:
        return self.raw_out.decode("utf-8", errors="replace")

    @property
    def err(self) -> str:
        return self.raw_err.decode("utf-8", errors="replace")

    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def show(self) -> str:
        return f"exit {self.code}\n--- stdout ---\n{self.out[-3000:]}\n--- stderr ---\n{self.err[-3000:]}"


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The caller's environment (offline flags included), with no gestsearch settings of its own,
    an empty config home and wide lines (so that rich does not wrap the lines looked at)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GESTSEARCH_")}
    config_home = tmp / "xdg-config"
    config_home.mkdir(parents=True, exist_ok=True)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", XDG_CONFIG_HOME=str(config_home), COLUMNS="250")
    env.update(extra)
    return env


def gestsearch(*args: str | Path, env: dict[str, str], timeout: int = CLI_TIMEOUT) -> Result:
    proc = subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


# ------------------------------------------------------------------------------ media helpers


def sidecar(words: list[tuple[str, float, float]]) -> str:
    """A WhisperX text sidecar."""
    rows = "\n".join(f"{w}, {s:.2f}, {e:.2f}, 0.9" for w, s, e in words)
    return f"Text: {' '.join(w for w, _, _ in words)}\nLang: en\n\nWORD, START, END, SCORE\n{rows}\n"


def phrase_sidecar(phrase: str) -> str:
    return sidecar([(w, 0.1 + 0.35 * j, 0.4 + 0.35 * j) for j, w in enumerate(phrase.split())])


@dataclass
class Session:
    """The shared index and what it was made from."""

    root: Path
    media: Path  # the indexed videos (talk0..2.mp4 + .txt)
    db: Path
    template: Path  # a tiny good video (1.6 s) to copy into case folders
    counts: dict  # info of the shared index right after it was built

    def copy_db(self, dest: Path) -> Path:
        shutil.copytree(self.db, dest)
        return dest

    def good_video(self, folder: Path, name: str = "good", words: str | None = "hello there") -> Path:
        """A copy of the tiny good video as ``folder/name.mp4`` with a WhisperX sidecar of ``words``."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.mp4"
        shutil.copyfile(self.template, path)
        if words is not None:
            path.with_suffix(".txt").write_text(phrase_sidecar(words))
        return path


def info_of(db: Path) -> dict:
    """What `gestsearch info --json` prints for ``db`` (the same ``GestureStore.info()``)."""
    from gestsearch.store import GestureStore

    with GestureStore.open(db, read_only=True) as store:
        return store.info().to_dict()


@pytest.fixture(scope="session")
def session(tmp_path_factory) -> Session:
    root = tmp_path_factory.mktemp("bad_input")
    media = root / "media"
    media.mkdir()
    for i, phrase in enumerate(PHRASES):
        video = write_video(media / f"talk{i}.mp4", pattern_frames(50, 96, 96), audio=tone(2.0, 300 + 100 * i))
        video.with_suffix(".txt").write_text(phrase_sidecar(phrase))
    template = write_video(root / "template.mp4", pattern_frames(40, 64, 64), audio=tone(1.6, 500))
    db = root / "index"
    result = gestsearch("index", media, "--db", db, env=cli_env(root))
    assert result.code == 0, result.show()
    counts = info_of(db)
    assert counts["videos_indexed"] == len(PHRASES) and counts["clips"] >= len(PHRASES)
    return Session(root, media, db, template, counts)


@pytest.fixture(scope="session")
def bundled_embedder():
    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder

    return Embedder.from_settings(Settings(device="cpu"))


def assert_intact(db: Path, expected: dict, embedder) -> None:
    """Same counts as ``expected`` (videos_indexed, clips) and a text search still finds clips."""
    from gestsearch.search.engine import Searcher
    from gestsearch.store import GestureStore

    info = info_of(db)
    got = {k: info[k] for k in expected}
    assert got == expected, f"index {db} changed: {got} != {expected}"
    with GestureStore.open(db, read_only=True) as store:
        searcher = Searcher(store, embedder)
        hits = searcher.search(searcher.text_query(QUERY), 3).result.hits
    assert hits, f"a text search of {db} finds nothing"


# ------------------------------------------------------------------------------ the cases


@dataclass
class Run:
    """One CLI call and what must come of it.

    expect: "error" (exit 2, one ``error:`` line matching every regex in ``says``), "failed"
    (exit 1: the run went on; a ``failed`` line naming ``bad`` matches ``says``) or "ok" (exit 0;
    when ``says`` is given, a ``note`` line, naming ``bad`` when given, matches it).
    """

    args: list
    expect: str
    says: tuple[str, ...] = ()
    not_says: tuple[str, ...] = ()
    bad: str | None = None  # the name the failed/note line is about
    db: Path | bool | None = None  # the index to check afterwards (None: the shared one; False: none)
    new_videos: int = 0  # videos the run adds to ``db`` (their clips with them)
    env: dict = field(default_factory=dict)
    after: Callable[[Result], None] | None = None  # further checks
    followup: list | None = None  # a second CLI call, made right after the first (see ``checks``)
    checks: Callable[[Result], None] | None = None  # checks of the followup's result
    held: Callable[[], object] | None = None  # a context manager held while the CLI runs


@dataclass
class Ctx:
    s: Session
    tmp: Path


Case = Callable[[Ctx], Run]
CASES: list = []


def case(group: str, name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES.append(pytest.param(fn, id=f"{group}-{name}"))
        return fn

    return register


def search_args(c: Ctx, *extra: str | Path) -> list:
    return ["search", *extra, "--db", c.s.db]


def index_run(c: Ctx, folder: Path, bad: str | None, says: tuple[str, ...] = (), *, expect: str = "failed",
              new_videos: int = 0, not_says: tuple[str, ...] = (), after=None) -> Run:
    db = c.s.copy_db(c.tmp / "index")
    return Run(["index", folder, "--db", db], expect, says, not_says, bad=bad, db=db, new_videos=new_videos, after=after)


# -- media ------------------------------------------------------------------------------------


def media_case(name: str, make: Callable[[Path], Path], says: tuple[str, ...]) -> None:
    @case("media", name)
    def _(c: Ctx) -> Run:
        folder = c.tmp / "videos"
        c.s.good_video(folder)  # the run must go on past the bad file and index this one
        bad = make(folder)
        return index_run(c, folder, bad.name, says, new_videos=1)


def _empty(folder: Path) -> Path:
    (folder / "empty.mp4").touch()
    return folder / "empty.mp4"


def _garbage(folder: Path) -> Path:
    path = folder / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    return path


def _truncated(folder: Path) -> Path:
    path = write_video(folder / "truncated.mp4", pattern_frames(40, 64, 64), audio=tone(1.6))
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    return path


def _audio_only(folder: Path) -> Path:
    path = folder / "voice.mp4"
    write_audio(folder / "voice.m4a", tone(1.0)).rename(path)  # AAC in an MP4 container, no video stream
    return path


media_case("empty-file", _empty, ("empty",))
media_case("garbage-bytes", _garbage, ("not a readable media file",))
media_case("truncated-mp4", _truncated, ())
media_case("audio-only-as-video", _audio_only, ("audio",))


@case("media", "non-utf8-file-name")
def _(c: Ctx) -> Run:
    folder = c.tmp / "videos"
    folder.mkdir()
    bytes_dir = os.fsencode(folder)
    os.rename(os.fsencode(c.s.good_video(folder, "tmp")), bytes_dir + b"/" + NON_UTF8 + b".mp4")
    os.rename(os.fsencode(folder / "tmp.txt"), bytes_dir + b"/" + NON_UTF8 + b".txt")
    run = index_run(c, folder, None, expect="ok", new_videos=1)
    run.followup = ["search", "hello there", "-k", "10", "--db", run.db]  # shows the name in its table

    def after(result: Result) -> None:
        shown = result.raw_out + result.raw_err
        shown.decode("utf-8")  # the terminal gets valid UTF-8, not the raw byte
        assert b"caf\\xe9" in shown, "the name is not shown escaped (caf\\xe9)"

    def checks(found: Result) -> None:
        found.raw_out.decode("utf-8")
        assert b"caf\\xe9" in found.raw_out, f"search does not show the name escaped:\n{found.show()}"

    run.after, run.checks = after, checks
    return run


@case("media", "shell-metacharacters-in-name")
def _(c: Ctx) -> Run:
    folder = c.tmp / "videos"
    c.s.good_video(folder, SHELL_NAME)
    run = index_run(c, folder, None, expect="ok", new_videos=1)
    run.followup = ["search", "hello there", "-k", "10", "--db", run.db]

    def after(result: Result) -> None:
        assert not list(ROOT.glob("pwned*")) and not list(folder.glob("pwned*")) and not list(c.tmp.glob("pwned*"))

    def checks(found: Result) -> None:
        assert "[x] co.mp4" in found.out, f"search does not show the name as it is:\n{found.show()}"

    run.after, run.checks = after, checks
    return run


@case("media", "folder-does-not-exist")
def _(c: Ctx) -> Run:
    missing = c.tmp / "no-such-folder"
    run = index_run(c, missing, None, ("no-such-folder",), expect="error")
    return run


@case("media", "file-not-a-video-instead-of-folder")
def _(c: Ctx) -> Run:
    notes = c.tmp / "notes.txt"
    notes.write_text("meeting notes, not a video\n" * 20)
    return index_run(c, notes, None, ("notes.txt",), expect="error")


# -- sidecars ---------------------------------------------------------------------------------


def sidecar_case(name: str, suffix: str, content: str, says: tuple[str, ...], **kw) -> None:
    @case("sidecar", name)
    def _(c: Ctx) -> Run:
        folder = c.tmp / "videos"
        video = c.s.good_video(folder, "talk", words=None)
        video.with_suffix(suffix).write_text(content)
        return index_run(c, folder, "talk.", says, **kw)  # the line may name the video or its sidecar


sidecar_case("malformed-whisperx-txt", ".txt",
             "Text: hello there\nLang: en\n\nWORD, START, END, SCORE\nhello, zero, one, 0.9\nthere, 0.5\n",
             (r"talk\.txt", "line"))
sidecar_case("words-past-the-end", ".txt", sidecar([("hello", 10.0, 10.4), ("there", 10.5, 11.0), ("again", 11.2, 11.6)]),
             ("dropped",), expect="ok", new_videos=1)
sidecar_case("huge-overlapping", ".txt",
             sidecar([(f"w{i % 1000}", 0.1 + (i % 7) * 0.2, 0.9 + (i % 7) * 0.1) for i in range(400_000)]),
             (), not_says=("outside the audio",))
sidecar_case("srt-bad-timestamps", ".srt", "1\n00:00:00,200 --> 00:00:xx,900\nhello there\n\n2\n00:00:01,000 -> 1.5\nagain\n",
             (r"talk\.srt", "line"))
sidecar_case("json-not-json", ".json", "{'segments': [ this is not JSON", (r"talk\.json", "json"))


# -- queries ----------------------------------------------------------------------------------


def query_case(name: str, make: Callable[[Ctx], list], says: tuple[str, ...] = (), **kw) -> None:
    @case("query", name)
    def _(c: Ctx) -> Run:
        return Run(search_args(c, *make(c)), "error", says, **kw)


def _wav(c: Ctx, name: str, samples: np.ndarray) -> Path:
    return write_audio(c.tmp / name, samples)


def _no_export(c: Ctx) -> Callable[[Result], None]:
    def after(_: Result) -> None:
        assert not (c.tmp / "out").exists(), "the export folder was made although the command failed"

    return after


query_case("empty", lambda c: [""], ("empty",))
query_case("whitespace", lambda c: ["   \t "], ("empty",))
query_case("100-words", lambda c: [" ".join(["walk"] * 100)], ("100 words",))
query_case("k-0", lambda c: [QUERY, "-k", "0"], ("-k|--top",))
query_case("k-negative", lambda c: [QUERY, "-k", "-3"], ("-k|--top",))
query_case("query-and-audio", lambda c: [QUERY, "--audio", _wav(c, "speech.wav", tone(1.0))], ("exactly one",))
query_case("audio-missing-file", lambda c: ["--audio", c.tmp / "missing.wav"], ("missing.wav",))
query_case("audio-is-a-text-file", lambda c: ["--audio", c.s.media / "talk0.txt"], ("talk0.txt",))
query_case("audio-silent", lambda c: ["--audio", _wav(c, "silent.wav", np.zeros(16000, np.float32)), "--transcript", QUERY],
           ("silent",))
query_case("audio-too-short", lambda c: ["--audio", _wav(c, "short.wav", tone(0.1)), "--transcript", "walk"], ("too short",))
query_case("transcript-without-audio", lambda c: [QUERY, "--transcript", QUERY], ("--transcript",))
query_case("like-unknown-clip", lambda c: ["--like", "123456789"], ("123456789",))
query_case("like-video-without-range", lambda c: ["--like-video", c.s.media / "talk0.mp4"], ("--start",))
query_case("start-after-end", lambda c: ["--like-video", c.s.media / "talk0.mp4", "--start", "2", "--end", "1"],
           ("--start", "--end"))
query_case("format-without-export", lambda c: [QUERY, "--format", "json"], ("--export",))
query_case("filter-date-not-iso", lambda c: [QUERY, "--indexed-after", "last tuesday"], ("ISO 8601",))
query_case("filter-durations-crossed", lambda c: [QUERY, "--min-duration", "5", "--max-duration", "2"], ("above the maximum",))
query_case("filter-negative-track", lambda c: [QUERY, "--only-track", "-1"], ("--only-track",))


@case("query", "format-gif")
def _(c: Ctx) -> Run:
    return Run(search_args(c, QUERY, "--export", c.tmp / "out", "--format", "gif"), "error", ("gif",), after=_no_export(c))


# -- checkpoints ------------------------------------------------------------------------------


def checkpoint_case(name: str, make: Callable[[Ctx], list], says: tuple[str, ...], **kw) -> None:
    @case("checkpoint", name)
    def _(c: Ctx) -> Run:
        return Run(search_args(c, QUERY, *make(c), "--text-model", TINY / "text"), "error", says, **kw)


def _garbage_checkpoint(c: Ctx) -> Path:
    path = c.tmp / "garbage.pth"
    path.write_bytes(np.random.default_rng(2).integers(0, 256, 50000, dtype=np.uint8).tobytes())
    return path


def _short(result: Result) -> None:
    line = result.err_lines()[0]
    assert len(line) <= 300, f"the message is not short ({len(line)} characters): {line}"


checkpoint_case("gestsync-missing", lambda c: ["--gestsync", c.tmp / "missing.pth", "--jegal", TINY / "jegal.pth"],
                ("missing.pth",))
checkpoint_case("garbage-file", lambda c: ["--gestsync", _garbage_checkpoint(c), "--jegal", TINY / "jegal.pth"],
                ("garbage.pth",), not_says=("Weights only load failed", "weights_only", "torch.load", "pickle"), after=_short)
checkpoint_case("swapped", lambda c: ["--gestsync", TINY / "jegal.pth", "--jegal", TINY / "gestsync.pth"],
                ("jegal.pth|gestsync.pth",), after=_short)
checkpoint_case("only-gestsync", lambda c: ["--gestsync", TINY / "gestsync.pth"], ("--jegal",))


# -- config -----------------------------------------------------------------------------------


def config_case(name: str, content: bytes | None, says: tuple[str, ...], env: dict | None = None) -> None:
    @case("config", name)
    def _(c: Ctx) -> Run:
        if (env or {}).get("GESTSEARCH_DEVICE") == "cuda":
            import torch

            if torch.cuda.is_available():
                pytest.skip("this machine has CUDA")
        args = search_args(c, QUERY)
        if content is not None or env is None:
            path = c.tmp / "gestsearch.toml"
            if content is not None:
                path.write_bytes(content)
            args += ["--config", path]
        return Run(args, "error", says, env=env or {})


config_case("config-file-missing", None, ("gestsearch.toml",))
config_case("not-utf8", b"\xff\xfe\x00d\x00b\x00 \x00=\x00 \x00'\xe9'\n", ("gestsearch.toml",))
config_case("invalid-toml", b"batch_size = = 3\n[broken\n", ("gestsearch.toml",))
config_case("unknown-setting", b"colour = 'red'\n", ("colour",))
config_case("batch-size-0", b"batch_size = 0\n", ("batch_size",))
config_case("device-cuda-unavailable", None, ("cuda", "not available|unavailable|no usable"), env={"GESTSEARCH_DEVICE": "cuda"})
config_case("device-invalid", None, ("tpu:9",), env={"GESTSEARCH_DEVICE": "tpu:9"})


# -- index folders ----------------------------------------------------------------------------


def _not_an_index(c: Ctx) -> Path:
    folder = c.tmp / "my-documents"
    folder.mkdir()
    (folder / "thesis.txt").write_text("chapter one\n")
    return folder


def _unchanged(path: Path) -> Callable[[Result], None]:
    before = sorted(str(p.relative_to(path.parent)) for p in [path, *path.rglob("*")]) if path.is_dir() else path.read_bytes()

    def after(_: Result) -> None:
        now = sorted(str(p.relative_to(path.parent)) for p in [path, *path.rglob("*")]) if path.is_dir() else path.read_bytes()
        assert now == before, f"{path} was changed"

    return after


@case("db", "search-not-an-index-folder")
def _(c: Ctx) -> Run:
    folder = _not_an_index(c)
    return Run(["search", QUERY, "--db", folder], "error", ("my-documents",), after=_unchanged(folder))


@case("db", "index-into-not-an-index-folder")
def _(c: Ctx) -> Run:
    folder = _not_an_index(c)
    videos = c.tmp / "videos"
    c.s.good_video(videos)
    return Run(["index", videos, "--db", folder], "error", ("my-documents",), after=_unchanged(folder))


@case("db", "search-db-is-a-file")
def _(c: Ctx) -> Run:
    path = c.tmp / "index.lance"
    path.write_text("not an index\n")
    return Run(["search", QUERY, "--db", path], "error", ("index.lance",), after=_unchanged(path))


@case("db", "index-into-db-that-is-a-file")
def _(c: Ctx) -> Run:
    path = c.tmp / "index.lance"
    path.write_text("not an index\n")
    videos = c.tmp / "videos"
    c.s.good_video(videos)
    return Run(["index", videos, "--db", path], "error", ("index.lance",), after=_unchanged(path))


def _other_models(c: Ctx) -> Path:
    """A copy of the shared index as if made by other checkpoints (another fingerprint)."""
    db = c.s.copy_db(c.tmp / "index")
    meta = json.loads((db / "gestsearch.json").read_text())
    meta["fingerprint"] = "0123456789abcdef"
    (db / "gestsearch.json").write_text(json.dumps(meta))
    return db


@case("db", "search-fingerprint-mismatch")
def _(c: Ctx) -> Run:
    db = _other_models(c)
    return Run(["search", QUERY, "--db", db], "error", ("fingerprint", "0123456789abcdef"), db=db)


@case("db", "index-fingerprint-mismatch")
def _(c: Ctx) -> Run:
    db = _other_models(c)
    videos = c.tmp / "videos"
    c.s.good_video(videos)
    return Run(["index", videos, "--db", db], "error", ("fingerprint",), db=db)


def _damaged(c: Ctx) -> Path:
    db = c.s.copy_db(c.tmp / "index")
    files = list((db / "clips.lance" / "data").glob("*.lance"))
    assert files
    for f in files:
        f.unlink()
    return db


@case("db", "search-damaged-index")
def _(c: Ctx) -> Run:
    db = _damaged(c)
    return Run(["search", QUERY, "--db", db], "error", (re.escape(str(db)), "gestsearch repair"), db=False)


@case("db", "info-damaged-index")
def _(c: Ctx) -> Run:
    db = _damaged(c)
    return Run(["info", "--db", db], "error", (re.escape(str(db)), "gestsearch repair"), db=False)


@case("db", "index-locked-by-another-writer")
def _(c: Ctx) -> Run:
    from contextlib import contextmanager

    from gestsearch.store.lock import WriterLock

    db = c.s.copy_db(c.tmp / "index")
    videos = c.tmp / "videos"
    c.s.good_video(videos)

    @contextmanager
    def locked() -> Iterator[None]:
        lock = WriterLock.acquire(db)
        try:
            yield
        finally:
            lock.release()

    return Run(["index", videos, "--db", db], "error", (re.escape(str(db)), "another process"), db=db, held=locked)


@case("db", "info-missing-index")
def _(c: Ctx) -> Run:
    missing = c.tmp / "nowhere.lance"

    def after(_: Result) -> None:
        assert not missing.exists(), "info made a folder for a missing index"

    return Run(["info", "--db", missing], "error", ("nowhere.lance",), after=after)


# -- export targets ---------------------------------------------------------------------------


@case("export", "target-is-an-existing-file")
def _(c: Ctx) -> Run:
    target = c.tmp / "results.json"
    target.write_text("{}\n")
    return Run(search_args(c, QUERY, "--export", target), "error", ("results.json",), after=_unchanged(target))


@case("export", "parent-is-a-file")
def _(c: Ctx) -> Run:
    blocker = c.tmp / "report.pdf"
    blocker.write_text("%PDF-1.4\n")
    return Run(search_args(c, QUERY, "--export", blocker / "sub"), "error", (r"report\.pdf",), after=_unchanged(blocker))


@case("export", "read-only-folder")
def _(c: Ctx) -> Run:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = c.tmp / "readonly"
    folder.mkdir()
    folder.chmod(0o500)
    return Run(search_args(c, QUERY, "--export", folder), "error", ("readonly",), after=_unchanged(folder))


# ------------------------------------------------------------------------------ running the matrix
#
# The CLI calls are independent, so they run on a small pool as soon as the session starts (each
# case's files are made first, in order); each test then waits for its own call and checks it.


@dataclass
class Prepared:
    run: Run | None = None
    before: dict | None = None  # counts of the index to check, before the call
    setup_error: BaseException | None = None  # raised by the case's setup (pytest.skip included)
    future: Future | None = None


def _counts(db: Path) -> dict:
    info = info_of(db)
    return {"videos_indexed": info["videos_indexed"], "clips": info["clips"]}


def _checked_db(run: Run, session: Session) -> Path | None:
    return session.db if run.db is None else (run.db or None)


def _execute(run: Run, tmp: Path) -> tuple[Result, Result | None]:
    env = cli_env(tmp, **run.env)
    if run.held is None:
        result = gestsearch(*run.args, env=env)
    else:
        with run.held():
            result = gestsearch(*run.args, env=env)
    return result, (gestsearch(*run.followup, env=cli_env(tmp)) if run.followup else None)


def _prepare(make: Case, session: Session, tmp: Path) -> Prepared:
    """The case's files, made now, and the counts of the index it checks."""
    prep = Prepared()
    try:
        prep.run = make(Ctx(session, tmp))
        db = _checked_db(prep.run, session)
        prep.before = _counts(db) if db else None
    except BaseException as e:  # a skip, or a broken setup: reported by the case's own test
        prep.setup_error = e
    return prep


@pytest.fixture(scope="session")
def prepared(request, session: Session, tmp_path_factory) -> Iterator[dict[str, Prepared]]:
    selected = {item.callspec.id: item.callspec.params["make"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_bad_input"}
    workers = max(1, min(4, os.cpu_count() or 1))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="gestsearch-cli")
    cases: dict[str, Prepared] = {}
    try:
        for case_id, make in selected.items():
            tmp = tmp_path_factory.mktemp(case_id)
            prep = cases[case_id] = _prepare(make, session, tmp)
            if prep.setup_error is None:
                prep.future = pool.submit(_execute, prep.run, tmp)
        yield cases
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _line_about(text: str, marker: str, name: str | None) -> list[str]:
    return [line for line in text.splitlines() if marker in line and (name is None or name in line)]


@pytest.mark.parametrize("make", CASES)
def test_bad_input(make: Case, request, prepared: dict[str, Prepared], session: Session, bundled_embedder,
                   record_property) -> None:
    prep = prepared.get(request.node.callspec.id)
    if prep is None:  # not scheduled up front: run it now
        tmp = request.getfixturevalue("tmp_path")
        prep = _prepare(make, session, tmp)
        if prep.setup_error is None:
            prep.future = Future()
            prep.future.set_result(_execute(prep.run, tmp))
    if prep.setup_error is not None:
        raise prep.setup_error
    run, (result, followup) = prep.run, prep.future.result()
    record_property("exit_code", result.code)
    record_property("stderr_head", "\n".join(result.err_lines()[:2]))
    shown = result.show()

    assert "Traceback" not in result.out and "Traceback" not in result.err, shown
    if run.expect == "error":
        assert result.code == 2, shown
        lines = result.err_lines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"stderr is not one 'error: ' line\n{shown}"
        about = lines[0]
    elif run.expect == "failed":
        assert result.code == 1, shown
        failed = _line_about(result.out, "failed", run.bad)
        assert len(failed) == 1, f"no single 'failed' line names {run.bad}\n{shown}"
        about = failed[0]
    else:
        assert result.code == 0, shown
        about = None
        if run.says:
            notes = _line_about(result.out + "\n" + result.err, "note", run.bad)
            matching = [n for n in notes if all(re.search(p, n, re.IGNORECASE) for p in run.says)]
            assert matching, f"no note about {run.bad} says {run.says}\n{shown}"
    if about is not None:
        record_property("checked_line", about)
        for pattern in run.says:
            assert re.search(pattern, about, re.IGNORECASE), f"{about!r} does not say {pattern!r}\n{shown}"
        for words in run.not_says:
            assert words.lower() not in about.lower(), f"{about!r} says {words!r}\n{shown}"
    if run.after is not None:
        run.after(result)
    if followup is not None:
        assert followup.code == 0 and "Traceback" not in followup.out + followup.err, followup.show()
        run.checks(followup)
    db = _checked_db(run, session)
    if db:
        expected = dict(prep.before)
        if run.new_videos:
            now = _counts(db)
            assert now["clips"] > prep.before["clips"], f"the new videos added no clips\n{shown}"
            expected = {"videos_indexed": prep.before["videos_indexed"] + run.new_videos, "clips": now["clips"]}
        assert_intact(db, expected, bundled_embedder)


def test_matrix_is_big_enough() -> None:
    assert len(CASES) >= 40


def test_shared_index_still_serves_the_cli(session: Session) -> None:
    """After the matrix, the real `info --json` and `search` see the shared index as built."""
    env = cli_env(session.root)
    info = gestsearch("info", "--db", session.db, "--json", env=env)
    assert info.code == 0, info.show()
    data = json.loads(info.out)
    assert {k: data[k] for k in ("videos_indexed", "clips")} == {k: session.counts[k] for k in ("videos_indexed", "clips")}
    found = gestsearch("search", QUERY, "--db", session.db, "--json", env=env)
    assert found.code == 0 and "Traceback" not in found.err, found.show()
    assert json.loads(found.out)["hits"]
