"""Typed errors. The CLI prints ``str(error)`` as one line and exits with code 2."""

from __future__ import annotations

from gestsearch.text import printable


class GestsearchError(Exception):
    """Base class of every error a user can cause (bad file, bad query, wrong index...).

    Its message is always printable, whatever file names it quotes.
    """

    def __str__(self) -> str:
        return printable(super().__str__())


class ConfigError(GestsearchError):
    """A setting is missing or invalid."""


class CheckpointError(GestsearchError):
    """A checkpoint file is missing, unreadable, not a checkpoint, or does not match the model."""


class ModelInputError(GestsearchError):
    """Arguments given to a model are inconsistent (wrong shapes, modality combination...)."""


class MediaError(GestsearchError):
    """A media file cannot be decoded. Always names the file and the reason."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NoAudioError(MediaError):
    """The file has no audio stream."""


class TranscriptError(GestsearchError):
    """A transcript is unreadable or malformed."""


class QueryError(GestsearchError):
    """A search query is empty, too long or otherwise unusable."""


class StoreError(GestsearchError):
    """The index directory is missing, corrupt or locked."""


class IndexDamaged(StoreError):
    """A file inside the index is missing or unreadable; ``gestsearch repair`` restores what it can."""


class DiskFull(StoreError):
    """A write ran out of disk space; the index keeps its last complete state."""


class FingerprintMismatch(StoreError):
    """The index was built with other model checkpoints than the ones in use."""


class EvalError(GestsearchError):
    """An evaluation manifest or media root is unusable."""


class TrackNotFound(EvalError):
    """A raw benchmark video has no speaker track with the number its manifest row names."""


class Cancelled(Exception):
    """Work stopped because its caller no longer wants the result (not a user's error, so not a
    :class:`GestsearchError`: nothing reports it as a failed video)."""
