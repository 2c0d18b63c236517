"""Synthetic gesture corpus: an articulated upper body performing word-bound iconic gestures to
espeak-ng speech with exact word timings (``gestsearch synth``)."""

from gestsearch.synth.corpus import MANIFEST_COLUMNS, MANIFEST_NAME, CorpusSummary, generate_corpus
from gestsearch.synth.lexicon import FILLER_WORDS, LEXICON

__all__ = ["FILLER_WORDS", "LEXICON", "MANIFEST_COLUMNS", "MANIFEST_NAME", "CorpusSummary", "generate_corpus"]
