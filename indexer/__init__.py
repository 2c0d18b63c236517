"""The collection pipeline: walks folders of videos and keeps a gesture index up to date.

Built on the ``gestsearch`` library (which never imports it)."""

from indexer.pipeline import IndexSummary, index_folder
from indexer.sources import find_videos

__all__ = ["IndexSummary", "find_videos", "index_folder"]
