"""The resident search service: JSON API, media and the web UI (``gestsearch serve``)."""

from gestsearch.serve.app import MAX_UPLOAD_BYTES, create_app

__all__ = ["MAX_UPLOAD_BYTES", "create_app"]
