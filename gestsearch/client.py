"""A Python client for `gestsearch serve`: the same result dataclasses as the library, over HTTP.

>>> import gestsearch
>>> client = gestsearch.Client("http://127.0.0.1:8080")
>>> result = client.search("take a walk", k=5, path="interviews/")
>>> [(hit.video_path, hit.span_start_s, hit.span_end_s) for hit in result.hits]

Standard library only (urllib), so a script that talks to a server needs neither torch nor the
models. Server errors raise :class:`~gestsearch.errors.QueryError` with the server's one line.
"""

from __future__ import annotations

import json
import mimetypes
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from gestsearch.errors import QueryError
from gestsearch.results import SearchResult

FILTERS = ("path", "video", "track", "min_duration", "max_duration", "indexed_after", "indexed_before", "speakers_only")


class Client:
    """The API of one server. ``token``: the server's ``--token``, if it has one."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def search(self, text: str, k: int = 10, candidates: int | None = None, **filters: object) -> SearchResult:
        """Text search; ``filters``: path, video, track, min_duration, max_duration, indexed_after, indexed_before,
        speakers_only."""
        return SearchResult.from_dict(self._get("/api/search", q=text, k=k, candidates=candidates, **_filters(filters)))

    def search_audio(self, audio: str | Path, transcript: str | None = None, k: int = 10, **filters: object) -> SearchResult:
        """Speech search with an audio file and the words spoken in it (or the server's ASR model)."""
        path = Path(audio)
        fields = {"transcript": transcript} if transcript else {}
        body, content_type = _multipart(fields, "audio", path.name, path.read_bytes())
        query = _query(k=k, **_filters(filters))
        return SearchResult.from_dict(self._request("POST", f"/api/search/audio?{query}", body, content_type))

    def like(self, clip_id: int | str, k: int = 10, **filters: object) -> SearchResult:
        """Gesture → speech: the clips whose speech matches this clip's gestures."""
        return SearchResult.from_dict(self._get("/api/search/like", clip_id=clip_id, k=k, **_filters(filters)))

    def like_video(self, video: str | Path, start_s: float, end_s: float, track: int = 0, k: int = 10,
                   **filters: object) -> SearchResult:
        """Gesture → speech from an indexed video's time range (seconds) and speaker track."""
        return SearchResult.from_dict(self._get("/api/search/like", video=str(video), start=start_s, end=end_s, track=track,
                                                k=k, **_filters(filters)))

    def videos(self, offset: int = 0, limit: int = 100, path: str | None = None) -> dict:
        """A page of the indexed videos, each with its clips."""
        return self._get("/api/videos", offset=offset, limit=limit, path=path)

    def clip(self, clip_id: int | str, query: str | None = None) -> dict:
        """A clip's words; with ``query``, its word peaks and word × frame score map."""
        return self._get(f"/api/clips/{clip_id}", q=query)

    def info(self) -> dict:
        return self._get("/api/info")

    def export(self, result: SearchResult, format: str = "json") -> bytes:
        """The result set as a json/csv file, or a zip (vtt, eaf: a file per video; mp4: the cuts)."""
        body = json.dumps(result.to_dict()).encode()
        return self._request("POST", f"/api/export?{_query(format=format)}", body, "application/json", raw=True)

    # ------------------------------------------------------------------------------------
    def _get(self, path: str, /, **params: object) -> dict:  # positional-only: `path` is also a filter
        query = _query(**params)
        return self._request("GET", f"{path}?{query}" if query else path)

    def _request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
                 raw: bool = False):
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = response.read()
        except urllib.error.HTTPError as e:
            raise QueryError(f"{self.url}: {e.code} {_server_error(e)}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise QueryError(f"cannot reach the gestsearch server at {self.url}: {reason}") from None
        return data if raw else json.loads(data)


def _filters(filters: dict[str, object]) -> dict[str, object]:
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise TypeError(f"unknown filter(s) {', '.join(unknown)}; the filters are {', '.join(FILTERS)}")
    return filters


def _query(**params: object) -> str:
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def _server_error(e: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(e.read())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return str(e.reason)


def _multipart(fields: dict[str, str], file_field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
                 f"Content-Type: {kind}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
