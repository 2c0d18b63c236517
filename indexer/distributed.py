"""`gestsearch index --ray`: the videos of a run embedded by Ray Data actors, committed here.

Each actor (a callable class in ``map_batches``) loads the models once, on one GPU when the
cluster has GPUs, else on one CPU, and embeds one video per call. It returns the video's record
and clips as a pyarrow table, vectors as fixed-size lists, and writes nothing. This process, the
driver, stays the index's one writer: it plans the run (:class:`~indexer.pipeline.IndexRun`, so
only new or changed videos go to the cluster) and commits each video as it comes back, through
the store's one commit protocol. The guarantees of the sequential path hold: an actor killed
mid-video is restarted and the video tried again; a video that never comes back is not committed
and the next run embeds it; nothing is ever half-written.

Ray is imported here only, and only when a run starts (``pip install 'gestsearch[ray]'``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa

from gestsearch.config import Settings
from gestsearch.constants import DIM
from gestsearch.embedding import Embedder, ModelInfo, fingerprint, resolve_checkpoints
from gestsearch.errors import ConfigError, GestsearchError
from gestsearch.ingest import VideoClips
from gestsearch.models.checkpoint import read_checkpoint
from gestsearch.progress import Progress, Update, silent
from gestsearch.runtime import environment
from gestsearch.store import ClipRecord, VideoRecord
from gestsearch.store.schema import vector_array, vectors_of
from indexer.pipeline import (
    FILES_TASK,
    FRAMES_TASK,
    EmbedOptions,
    IndexSummary,
    Pending,
    display_name,
    embed_pending,
    frame_estimate,
    index_run,
)
from indexer.sources import RemoteStat

LOCAL = "auto"  # --ray auto: the cluster RAY_ADDRESS or `ray start` names, else a new one on this machine
TASK_RETRIES = 3  # tries of a video after its actor died, so that a file that kills its decoder cannot stall a run
LOST = f"not embedded: its Ray task failed {TASK_RETRIES + 1} times (the Ray logs say why); the next run tries again"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours the task names in its messages
VECTOR_FIELDS = ("gesture", "content", "frames")  # of ClipRecord: Arrow columns; the other fields travel as JSON


def index_on_ray(
    target: Path,
    settings: Settings,
    db: Path,
    address: str = LOCAL,
    prune: bool = False,
    options: EmbedOptions = EmbedOptions(),
    progress: Progress | None = None,
) -> IndexSummary:
    """Index the videos ``target`` names (a folder, a video, a list of paths and URIs) into the
    index at ``db``, embedding them on the Ray cluster at ``address`` (``auto``: see :data:`LOCAL`).

    ``settings`` name the models each actor loads; ``progress`` sees the tasks of
    :func:`~indexer.pipeline.index_folder`, frames advancing a whole video at a time.
    """
    ray = _import_ray()
    progress = progress or silent
    model = _model_info(settings)
    with index_run(target, db, model, prune) as run:
        todo = run.todo
        estimates = {item.key: frame_estimate(item) for item in todo}
        progress(Update(FILES_TASK, 0, len(todo)))
        progress(Update(FRAMES_TASK, 0, sum(estimates.values()) or None))
        if todo:
            frames_done = 0
            returned: set[str] = set()
            planned = len(run.summary.failed)  # unreadable files, found before any embedding
            with _cluster(ray, address):
                for record, clips in _embedded(ray, todo, settings, options):
                    if record.path in returned:  # a task Ray ran twice: its first result is committed
                        continue
                    run.commit(record, clips)
                    returned.add(record.path)
                    frames_done += estimates[record.path] or (clips.frames if clips else 0)
                    progress(Update(FRAMES_TASK, frames_done, sum(estimates.values()) or None))
                    progress(Update(FILES_TASK, len(returned), len(todo), info=display_name(record.path)))
            for item in todo:  # not committed: the next run embeds them again
                if item.key not in returned:
                    run.summary.failed.append({"path": item.key, "reason": LOST})
            # the order of the sequential run's summary, not the order the videos finished in
            order = {item.key: i for i, item in enumerate(todo)}
            run.summary.indexed.sort(key=order.__getitem__)
            run.summary.failed[planned:] = sorted(run.summary.failed[planned:], key=lambda f: order[f["path"]])
    return run.summary


class EmbedWorker:
    """A Ray Data actor: one copy of the models, embedding the videos of the batches it is given
    (a ``pending`` column of :class:`~indexer.pipeline.Pending` as JSON) into result rows."""

    def __init__(self, settings: Settings, options: EmbedOptions):
        self.embedder = Embedder.from_settings(settings)
        self.options = options

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = [_encode(*embed_pending(_pending(text), self.embedder, self.options))
                for text in batch.column("pending").to_pylist()]
        return pa.concat_tables(rows)


def _embedded(
    ray: ModuleType, todo: list[Pending], settings: Settings, options: EmbedOptions
) -> Iterator[tuple[VideoRecord, VideoClips | None]]:
    """The videos of ``todo`` embedded by actors, in the order they finish. A video whose task
    failed for good (its actor died on every try) is left out: the caller does not commit it."""
    resources, actors = _actor_resources(ray, settings)
    if resources.get("num_gpus"):
        settings = replace(settings, device="cuda")  # the actor sees its own GPU only
    items = [{"pending": json.dumps(asdict(item))} for item in todo]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))  # a block per video: one retry redoes one video
    with warnings.catch_warnings():
        # Ray 2.60 takes max_restarts/max_task_retries only as the "ray_remote_args" it deprecates for 2.64
        warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated", DeprecationWarning)
        results = dataset.map_batches(
            EmbedWorker,
            fn_constructor_kwargs={"settings": settings, "options": options},
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=min(actors, len(todo))),  # each loads the models: no idle ones
            max_restarts=-1,
            max_task_retries=TASK_RETRIES,  # Ray's default, -1, would retry a video that kills its actor forever
            **resources,
        )
    try:
        for batch in results.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
            yield from _decode(batch)
    except ray.exceptions.RayError as e:
        raise _run_error(e) from e


def _actor_resources(ray: ModuleType, settings: Settings) -> tuple[dict[str, Any], int]:
    """Each actor's resources, and how many: one per GPU when the cluster has GPUs (and
    ``--device`` is not ``cpu``), else one per CPU."""
    cluster = ray.cluster_resources()
    gpus = int(cluster.get("GPU", 0))
    if gpus and settings.device != "cpu":
        return {"num_gpus": 1}, gpus
    return {"num_cpus": 1}, max(1, int(cluster.get("CPU", 1)))


def _run_error(error: Exception) -> GestsearchError:
    """A failed Ray run as one line: the library's own error when an actor raised one (a bad
    checkpoint), else the last line of what Ray says (its traceback ends with the error).
    Videos committed before stay; the next run does the rest."""
    seen: Exception | None = error
    while seen is not None:
        if isinstance(seen, GestsearchError):  # Ray raises a task's error as an instance of its class
            return seen
        seen = getattr(seen, "cause", None) or seen.__cause__
    lines = [line.strip() for line in _ANSI.sub("", str(error)).splitlines() if line.strip()]
    return GestsearchError(f"the Ray run stopped: {lines[-1] if lines else type(error).__name__}; run again to index the rest")


@contextmanager
def _cluster(ray: ModuleType, address: str) -> Iterator[None]:
    """Connected to the cluster at ``address`` for the block (a cluster already connected is used
    as is). Ray Data draws no progress bars and prints nothing on the console (the command draws
    its own bars and prints errors as one line; Ray Data's log file, ``logs/ray-data`` in the
    session folder, keeps everything), and a video whose task failed for good is dropped rather
    than stopping the run."""
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars, context.print_on_execution_start, context.max_errored_blocks
    context.enable_progress_bars, context.print_on_execution_start, context.max_errored_blocks = False, False, -1
    console = [h for h in logging.getLogger("ray.data").handlers if h.name == "console"]  # as Ray Data's logging config names it
    levels = [h.level for h in console]
    for handler in console:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        if ray.is_initialized():
            yield
            return
        try:
            with warnings.catch_warnings():
                # the store is open: lancedb warns at every fork, but Ray's forks exec its own processes at once
                warnings.filterwarnings("ignore", "lancedb fork support is experimental", RuntimeWarning)
                # a cluster started here reports no usage statistics to Ray's servers (on by default;
                # its processes read the setting when they start); a user's own choice stands
                with environment(RAY_USAGE_STATS_ENABLED=os.environ.get("RAY_USAGE_STATS_ENABLED", "0")):
                    ray.init(address=None if address == LOCAL else address, include_dashboard=False,
                             logging_level=logging.ERROR, log_to_driver=False)
        except ConnectionError as e:
            raise ConfigError(f"cannot reach the Ray cluster at {address}: {e}") from None
        try:
            yield
        finally:
            ray.shutdown()
    finally:
        context.enable_progress_bars, context.print_on_execution_start, context.max_errored_blocks = saved
        for handler, level in zip(console, levels):
            handler.setLevel(level)


def _import_ray() -> ModuleType:
    try:
        import ray
        import ray.data  # a submodule: loads Ray Data
    except ImportError:
        raise ConfigError("--ray needs Ray: install gestsearch[ray] (pip install 'gestsearch[ray]')") from None
    return ray


def _model_info(settings: Settings) -> ModelInfo:
    """The models' name and fingerprint. The models are not built here (the actors do), but their
    checkpoints are read: a bad file is one line here, not a traceback from every actor."""
    gestsync, jegal, text_model, name = resolve_checkpoints(settings)
    for path in (gestsync, jegal):
        read_checkpoint(path)
    return ModelInfo(name=name, fingerprint=fingerprint(gestsync, jegal, text_model))


# ---------------------------------------------------------------- results as Arrow rows


def _pending(text: str) -> Pending:
    item = json.loads(text)
    return Pending(item["key"], item["digest"], RemoteStat(**item["remote"]) if item["remote"] else None)


def _encode(record: VideoRecord, result: VideoClips | None) -> pa.Table:
    """One video as one row: ``meta`` (JSON: the record, notes, the clips' other fields) and the
    clips' ``gesture``, ``content`` (null without speech) and ``frames`` vectors as fixed-size lists."""
    clips = result.clips if result is not None else []
    meta = {
        "record": asdict(record),
        "ok": result is not None,
        "frames": result.frames if result is not None else 0,
        "notes": result.notes if result is not None else [],
        "clips": [{f.name: getattr(c, f.name) for f in fields(ClipRecord) if f.name not in VECTOR_FIELDS} for c in clips],
    }
    gesture = vector_array(np.stack([c.gesture for c in clips]) if clips else np.zeros((0, DIM)))
    has_content = np.array([c.content is not None for c in clips], dtype=bool)
    content = np.stack([c.content if c.content is not None else np.zeros(DIM) for c in clips]) if clips else np.zeros((0, DIM))
    frames = [np.asarray(c.frames) for c in clips]
    frame_type = pa.from_numpy_dtype(frames[0].dtype) if frames else pa.float16()
    frame_offsets = np.concatenate([[0], np.cumsum([len(f) for f in frames])]).astype(np.int32)
    all_frames = np.concatenate(frames) if frames else np.zeros((0, DIM))
    return pa.table({
        "meta": pa.array([json.dumps(meta, default=_json_scalar)]),
        "gesture": _one_list(gesture),
        "content": _one_list(vector_array(content, mask=~has_content)),
        "frames": _one_list(pa.ListArray.from_arrays(pa.array(frame_offsets), vector_array(all_frames, dtype=frame_type))),
    })


def _decode(batch: pa.Table) -> Iterator[tuple[VideoRecord, VideoClips | None]]:
    for i in range(batch.num_rows):
        meta = json.loads(batch.column("meta")[i].as_py())
        record = VideoRecord(**meta["record"])
        if not meta["ok"]:
            yield record, None
            continue
        gesture = vectors_of(batch.column("gesture")[i].values)
        content_column = batch.column("content")[i].values
        present = content_column.is_valid().to_numpy(zero_copy_only=False)
        content = iter(vectors_of(content_column))  # the rows with content only
        per_clip = batch.column("frames")[i].values
        clips = []
        for j, values in enumerate(meta["clips"]):
            values["words"] = [tuple(w) for w in values["words"]]
            clips.append(ClipRecord(**values, gesture=gesture[j], content=next(content) if present[j] else None,
                                    frames=vectors_of(per_clip[j].values)))
        yield record, VideoClips(clips, record.n_tracks, meta["frames"], meta["notes"])


def _one_list(values: pa.Array) -> pa.ListArray:
    """``values`` as the one list of a one-row column."""
    return pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), values)


def _json_scalar(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
