"""Training corpora: a folder of pre-cropped single-speaker clips with word timings.

Two layouts are read:

- with ``manifest.csv`` (AVS-Ret/AVS-Spot columns, as ``gestsearch synth`` writes and
  ``gestsearch eval`` reads): one clip per row, media at ``ROOT/<filename>.<ext>``, word
  boundaries from the ``word_boundaries`` column and the spotting target (when the manifest
  has one) from ``target_word_boundary``;
- without: every video under the folder (recursively), words from its transcript sidecar
  (``NAME.txt`` WhisperX text/JSON, subtitles...: ``gestsearch.media.load_transcript``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from gestsearch.constants import VIDEO_EXTENSIONS
from gestsearch.errors import ConfigError
from gestsearch.media.manifest import available_media, read_manifest
from gestsearch.types import Boundary

MANIFEST = "manifest.csv"
SIDECAR_SUFFIXES = (".txt", ".json", ".srt", ".vtt", ".wav")


@dataclass(frozen=True)
class CorpusClip:
    name: str  # manifest filename, or the path relative to the corpus folder without suffix
    video: Path
    boundaries: tuple[Boundary, ...] | None  # None: read the transcript sidecar
    target: int | None = None  # row of the spotting target in ``boundaries``


@dataclass(frozen=True)
class Corpus:
    root: Path
    clips: list[CorpusClip]
    missing: list[str]  # manifest rows without media

    def fingerprint(self) -> str:
        """sha256 of the manifest and of every clip's media and sidecar files (name, size, mtime)."""
        digest = hashlib.sha256()
        manifest = self.root / MANIFEST
        if manifest.is_file():
            digest.update(manifest.read_bytes())
        for clip in self.clips:
            for path in (clip.video, *(clip.video.with_suffix(s) for s in SIDECAR_SUFFIXES)):
                if path.is_file():
                    stat = path.stat()
                    digest.update(f"{path.relative_to(self.root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def read_corpus(root: str | Path) -> Corpus:
    """The clips of the corpus folder ``root`` (see the module docstring), in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: the training corpus is not a folder")
    if (root / MANIFEST).is_file():
        found, missing = available_media(root, read_manifest(root / MANIFEST))
        clips = [
            CorpusClip(row.filename, video, tuple(row.word_boundaries), row.target_index) for row, video, _ in found
        ]
        return Corpus(root, clips, [row.filename for row in missing])
    videos = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
    if not videos:
        raise ConfigError(f"{root}: no {MANIFEST} and no videos ({', '.join(VIDEO_EXTENSIONS)})")
    return Corpus(root, [CorpusClip(str(v.relative_to(root).with_suffix("")), v, None) for v in videos], [])
