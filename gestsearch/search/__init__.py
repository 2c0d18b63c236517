"""Two-stage search over a gesture index: ANN candidates, then the exact word-coupling re-rank."""

from gestsearch.filters import ClipFilter
from gestsearch.search.engine import Query, Ranked, Searcher

__all__ = ["ClipFilter", "Query", "Ranked", "Searcher"]
