"""`gestsearch serve`: the search service (FastAPI on uvicorn), its JSON API and the web UI.

The models are loaded once (torch on the first speech or gesture query: ``ResidentEncoder``) and the
index opened once, read-only; every request takes a fresh consistent snapshot of the index, so
clips that ``gestsearch index`` commits meanwhile show up without a restart. Model and index work
is serialised by one lock (a query costs tens of milliseconds; two cores gain nothing from running
two at once), while the server keeps taking requests, streaming media and answering from other
threads.

Every search answers with the ``gestsearch.search/1`` document of ``gestsearch search --json``.
Errors are 4xx with ``{"error": "<one line>"}`` (500 only for a bug, also one line).
"""

from __future__ import annotations

import io
import secrets
import tempfile
import threading
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from gestsearch.config import Settings
from gestsearch.constants import DEFAULT_CANDIDATES, DEFAULT_K, SPEAKING_THRESHOLD
from gestsearch.errors import GestsearchError, QueryError
from gestsearch.export import export_results
from gestsearch.results import SearchResult
from gestsearch.search import ClipFilter, Searcher
from gestsearch.search.encoders import ResidentEncoder
from gestsearch.search.engine import QueryEncoder
from gestsearch.serve.media import CutCache, default_cache_dir, servable_file, video_of_clip
from gestsearch.store import AnnConfig, GestureStore
from gestsearch.text import json_text, printable

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_OVERHEAD = 64 * 1024  # multipart headers and form fields around the file
MAX_K = 200
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".webm", ".ogg", ".flac", ".mp4")
TOKEN_COOKIE = "gestsearch_token"
ExportFormat = Literal["json", "csv", "vtt", "eaf", "mp4", "pose"]  # mp4: a zip of the hits' cuts; pose: of their motion


class JSONText(JSONResponse):
    """JSON that also holds file names that are not UTF-8 (``\\udcNN`` escapes, as ``--json`` writes them)."""

    def render(self, content: object) -> bytes:
        return json_text(content, indent=None).encode("utf-8")


class RefuseLargeUploads:
    """Answers 413 to a POST whose declared body is too large, before the form is parsed: Starlette
    would otherwise spool the whole body to disk first. Plain ASGI rather than ``@app.middleware``
    (Starlette's ``BaseHTTPMiddleware``), which wraps every request and response in a task and a stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            length = Headers(scope=scope).get("content-length", "")
            if length.isdigit() and int(length) > MAX_UPLOAD_BYTES + UPLOAD_OVERHEAD:
                message = {"error": f"the upload is larger than {MAX_UPLOAD_BYTES // (1 << 20)} MB"}
                await JSONText(message, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass
class ServiceState:
    settings: Settings
    embedder: QueryEncoder
    store: GestureStore
    token: str | None
    cuts: CutCache
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def searcher(self, candidates: int = DEFAULT_CANDIDATES) -> Iterator[Searcher]:
        with self.lock:
            yield Searcher(self.store, self.embedder, candidates)


def create_app(settings: Settings, token: str | None = None, embedder: QueryEncoder | None = None,
               cache_dir: Path | None = None) -> FastAPI:
    """The service for the index ``settings.db`` with the models ``settings`` name (or ``embedder``).

    ``token``: when set, every API and media request must carry it (``Authorization: Bearer``,
    the ``gestsearch_token`` cookie, or ``?token=``)."""
    embedder = embedder or ResidentEncoder(settings)
    ann = AnnConfig(device=embedder.device)  # a GPU searches there
    store = GestureStore.open(settings.db, fingerprint=embedder.info.fingerprint, read_only=True, ann=ann)
    state = ServiceState(settings, embedder, store, token, CutCache(cache_dir or default_cache_dir()))
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        lifespan=lifespan,
        default_response_class=JSONText,
        title="gestsearch",
        summary="Find the moments where a speaker gestures a word or phrase.",
        version=_version(),
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.service = state
    _errors(app)

    app.add_middleware(RefuseLargeUploads)
    app.include_router(_api(state))
    app.mount("/static", StaticFiles(directory=str(_static_dir())), name="static")

    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(_static_dir() / "index.html", media_type="text/html")

    return app


# ------------------------------------------------------------------------------------------ API


async def filters(  # the filter query parameters every search endpoint takes; async: no thread hop
    path: Annotated[str | None, Query(description="Folder, or glob ('*.mp4': file names; 'talks/*/x*': paths)")] = None,
    video: Annotated[str | None, Query(description="One video's path")] = None,
    track: Annotated[int | None, Query(ge=0, description="Speaker track number")] = None,
    min_duration: Annotated[float | None, Query(ge=0, description="Shortest clip, seconds")] = None,
    max_duration: Annotated[float | None, Query(ge=0, description="Longest clip, seconds")] = None,
    indexed_after: Annotated[str | None, Query(description="ISO 8601 date/time")] = None,
    indexed_before: Annotated[str | None, Query(description="ISO 8601 date/time")] = None,
    speakers_only: Annotated[bool, Query(description="Drop clips of people in view who are not speaking")] = False,
) -> ClipFilter:
    return ClipFilter(path, video, track, min_duration, max_duration, indexed_after, indexed_before,
                      SPEAKING_THRESHOLD if speakers_only else None)


Filters = Annotated[ClipFilter, Depends(filters)]
K = Annotated[int, Query(ge=1, le=MAX_K, description="Number of hits")]
Candidates = Annotated[int, Query(ge=1, le=10_000, description="Stage-1 candidates re-ranked exactly")]
CLIP_ID_MAX = (1 << 63) - 1  # clip ids are non-negative int64 (store.records.clip_id_for)
ClipId = Annotated[int, PathParam(ge=0, le=CLIP_ID_MAX, description="A clip id (search hits' clip_id)")]


def _api(state: ServiceState):
    router = APIRouter(prefix="/api", dependencies=[Depends(_authorised(state))])

    @router.get("/search", summary="Text search")
    def search_text(q: Annotated[str, Query(min_length=1, max_length=1000, description="A word or phrase")],
                    where: Filters, k: K = DEFAULT_K, candidates: Candidates = DEFAULT_CANDIDATES) -> dict:
        with state.searcher(candidates) as searcher:
            return searcher.search(searcher.text_query(q), k, where).result.to_dict()

    @router.post("/search/audio", summary="Speech search: an audio file with the words spoken (or a configured ASR model)")
    async def search_audio(where: Filters, audio: Annotated[UploadFile, File(description="wav, mp3, m4a, webm, ogg or flac")],
                           transcript: Annotated[str | None, Form(max_length=1000)] = None,
                           k: K = DEFAULT_K, candidates: Candidates = DEFAULT_CANDIDATES) -> dict:
        suffix = Path(audio.filename or "").suffix.lower() or _suffix_of(audio.content_type)
        if suffix not in AUDIO_SUFFIXES:
            raise HTTPException(415, f"upload an audio file ({', '.join(AUDIO_SUFFIXES)}), not {suffix or 'this type'}")
        data = await _read_limited(audio)
        with tempfile.TemporaryDirectory(prefix="gestsearch-upload-") as tmp:
            path = Path(tmp) / f"query{suffix}"
            path.write_bytes(data)
            with state.searcher(candidates) as searcher:
                query = searcher.audio_query(path, transcript or None, state.settings.asr_model)
                result = searcher.search(query, k, where).result
        return result.to_dict()

    @router.get("/search/like", summary="Gesture → speech: by clip id, or by video and time range")
    def search_like(where: Filters, clip_id: Annotated[int | None, Query(ge=0, le=CLIP_ID_MAX)] = None, video: str | None = None,
                    start: Annotated[float | None, Query(ge=0)] = None, end: Annotated[float | None, Query(ge=0)] = None,
                    track: Annotated[int, Query(ge=0)] = 0, k: K = DEFAULT_K) -> dict:
        if (clip_id is None) == (video is None):
            raise QueryError("give clip_id, or video with start and end")
        with state.searcher() as searcher:
            if clip_id is not None:
                query = searcher.gesture_query(clip_id)
            else:  # video and track name the query here, not a filter of the hits
                where = replace(where, video=None, track=None)
                if start is None or end is None:
                    raise QueryError("video needs start and end (seconds)")
                record = state.store.video_by_path(video)
                if record is None or record.status != "indexed":
                    raise QueryError(f"{video}: not an indexed video")
                query = searcher.gesture_query_from_video(servable_file(record), start, end, track)
            return searcher.search(query, k, where).result.to_dict()

    @router.get("/videos", summary="Indexed videos, each with its clips")
    def videos(offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               path: str | None = None) -> dict:
        where = ClipFilter(path=path)
        with state.lock:
            records = [v for v in state.store.videos() if v.status == "indexed"
                       and (where.path is None or where.matches_video(v.path, v.indexed_at))]
            page = records[offset : offset + limit]
            listed = [{**_video_dict(v), "clips": [_clip_dict(c) for c in state.store.clips_of_video(v.path)]} for v in page]
        return {"total": len(records), "offset": offset, "videos": listed}

    @router.get("/clips/{clip_id}", summary="A clip: its words and, for a query, its word peaks and score map")
    def clip(clip_id: ClipId, q: Annotated[str | None, Query(max_length=1000)] = None) -> dict:
        with state.searcher() as searcher:
            clips = state.store.clips_by_ids([clip_id])
            if not clips:
                raise HTTPException(404, f"no clip with id {clip_id} in the index")
            detail = _clip_dict(clips[0])
            if q:
                query = searcher.text_query(q)
                hit, scores = searcher.score_clip(query, clip_id)
                detail.update(query=query.text, query_words=query.words, hit=hit.to_dict(),
                              score_map=[[round(float(x), 4) for x in row] for row in scores])
        return detail

    @router.post("/export", summary="A result set (gestsearch.search/1) as json, csv, vtt, eaf, mp4 (zip of cuts), pose (zip of motion)")
    def export(result: dict, format: Annotated[ExportFormat, Query()] = "json") -> Response:
        try:
            parsed = SearchResult.from_dict(result)
        except ValueError as e:
            raise QueryError(str(e)) from None
        for hit in parsed.hits:  # only what the index holds, and only files still as indexed
            with state.lock:
                video, _, _ = video_of_clip(state.store, _hit_clip_id(hit))
            if str(Path(hit.video_path)) != str(Path(video.path)):
                raise QueryError(f"hit {hit.rank}: clip {hit.clip_id} belongs to another video")
            servable_file(video)
        with tempfile.TemporaryDirectory(prefix="gestsearch-export-") as tmp:
            written = export_results(parsed, tmp, [format])
            if len(written) == 1 and format not in ("mp4", "pose"):
                body, name = written[0].read_bytes(), written[0].name
            else:
                body, name = _zip(written), f"gestsearch-{format}.zip"
        media = {"json": "application/json", "csv": "text/csv", "vtt": "text/vtt", "eaf": "application/xml"}.get(
            Path(name).suffix.lstrip("."), "application/zip")
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @router.get("/info", summary="Index and model")
    def info() -> dict:
        with state.lock:
            data = state.store.info().to_dict()
        return {**data, "model": state.embedder.info.name, "model_fingerprint": state.embedder.info.fingerprint}

    @router.get("/media/clip/{clip_id}", summary="The source video of a clip (HTTP Range supported)")
    def media_of_clip(clip_id: ClipId) -> FileResponse:
        with state.lock:
            video, _, _ = video_of_clip(state.store, clip_id)
        return FileResponse(servable_file(video), media_type=_video_type(video.path))

    @router.get("/media/cut/{clip_id}", summary="An mp4 cut of a clip's video, made on demand and cached")
    def media_cut(clip_id: ClipId, start: Annotated[float | None, Query(ge=0)] = None,
                  end: Annotated[float | None, Query(ge=0)] = None) -> FileResponse:
        with state.lock:
            video, clip_start, clip_end = video_of_clip(state.store, clip_id)
        start = clip_start if start is None else start
        end = clip_end if end is None else end
        return FileResponse(state.cuts.cut(video, start, end), media_type="video/mp4")

    return router


# ---------------------------------------------------------------------------------- helpers


def _authorised(state: ServiceState):
    async def check(request: Request) -> None:  # async: a sync dependency costs a threadpool hop
        if state.token is None:
            return
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        given = given or request.cookies.get(TOKEN_COOKIE) or request.query_params.get("token")
        if not given or not secrets.compare_digest(given.encode(), state.token.encode()):
            raise HTTPException(401, "this server needs its access token (Authorization: Bearer TOKEN)")

    return check


def _errors(app: FastAPI) -> None:
    """Every error is one line of JSON: ``{"error": "..."}``."""

    @app.exception_handler(GestsearchError)
    def library_error(request: Request, e: GestsearchError) -> JSONResponse:
        return JSONResponse({"error": _one_line(str(e))}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": _one_line(str(e.detail))}, status_code=e.status_code, headers=getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("query", "body"))
        message = first.get("msg", "invalid request")
        return JSONResponse({"error": _one_line(f"{where}: {message}" if where else message)}, status_code=422)

    @app.exception_handler(Exception)
    def internal_error(request: Request, e: Exception) -> JSONResponse:
        return JSONResponse({"error": _one_line(f"internal error: {type(e).__name__}: {e}")}, status_code=500)


def _hit_clip_id(hit) -> int:
    """The clip id of an exported hit, as the index stores it; QueryError when it cannot be one."""
    try:
        clip_id = int(hit.clip_id)
    except ValueError:
        clip_id = -1
    if not 0 <= clip_id <= CLIP_ID_MAX:
        raise QueryError(f"hit {hit.rank}: {hit.clip_id!r} is not a clip id")
    return clip_id


def _one_line(text: str) -> str:
    return printable(" ".join(text.split()))[:500]


async def _read_limited(upload: UploadFile) -> bytes:
    chunks, size = [], 0
    while chunk := await upload.read(1 << 20):
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"the upload is larger than {MAX_UPLOAD_BYTES // (1 << 20)} MB")
        chunks.append(chunk)
    if not size:
        raise HTTPException(400, "the upload is empty")
    return b"".join(chunks)


def _suffix_of(content_type: str | None) -> str:
    kind = (content_type or "").split(";")[0].strip()
    return {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/mpeg": ".mp3", "audio/mp4": ".m4a",
            "audio/webm": ".webm", "video/webm": ".webm", "audio/ogg": ".ogg", "audio/flac": ".flac"}.get(kind, "")


def _video_type(path: str) -> str:
    return {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
            ".mkv": "video/x-matroska", ".avi": "video/x-msvideo"}.get(Path(path).suffix.lower(), "application/octet-stream")


def _video_dict(video) -> dict:
    return {"video_id": video.video_id, "path": printable(video.path), "duration_s": round(video.duration_s, 3),
            "n_tracks": video.n_tracks, "indexed_at": video.indexed_at, "playable": _video_type(video.path) in
            ("video/mp4", "video/webm")}


def _clip_dict(clip) -> dict:
    return {"clip_id": str(clip.clip_id), "video_path": printable(clip.path), "track": clip.track,
            "start_s": round(clip.start_s, 3), "end_s": round(clip.end_s, 3), "n_frames": len(clip.frames),
            "text": clip.text, "words": [{"word": w, "start_frame": s, "end_frame": e} for w, s, e in clip.words]}


def _zip(files: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for f in files:
            archive.write(f, f.name)
    return buffer.getvalue()


def _static_dir() -> Path:
    return Path(str(resources.files("gestsearch.serve") / "static"))


def _version() -> str:
    from gestsearch import __version__

    return __version__
