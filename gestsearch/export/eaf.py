"""ELAN (.eaf): one ELAN 3.0 document per source video, linking the video as its media.

The document links the video by the path the hit gives, made absolute but not resolved: a
symlinked video stays linked through its link (``MEDIA_URL``, ``file://`` with the path's real
bytes percent-encoded, and ``RELATIVE_MEDIA_URL``, relative to the .eaf). Its tiers are per query
and per speaker track (:mod:`gestsearch.export.tiers`), each with ``PARTICIPANT`` ``track N``, so
ELAN shows every hit of the video on its timeline, speaker by speaker.
"""

from __future__ import annotations

import os
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from gestsearch.atomic import atomic_path
from gestsearch.export.base import Exporter, ScoreMaps
from gestsearch.export.tiers import Annotation, annotations, participant, per_video
from gestsearch.results import SearchResult

# MIME_TYPE of the media descriptor by media file suffix; any other suffix gets "unknown".
MIME_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".wav": "audio/x-wav",
}


def write_eaf(result: SearchResult, out_dir: Path | str) -> list[Path]:
    """One ELAN 3.0 document per source video (``<video stem>.eaf``) linking the video as media.

    Tiers ``{query} — track N`` (hit spans) and ``{query} — track N — word peaks`` per speaker
    track, ``PARTICIPANT`` ``track N``; see the module docstring.
    """
    paths = []
    for path, hits in per_video(result.hits, Path(out_dir), ".eaf"):
        tree = _eaf_tree(annotations(result.query, hits), Path(hits[0].video_path), path.parent)
        with atomic_path(path) as tmp:
            tree.write(tmp, encoding="UTF-8", xml_declaration=True)
        paths.append(path)
    return paths


class EafExporter(Exporter):
    """``<video stem>.eaf`` per source video (:func:`write_eaf`)."""

    name = "eaf"
    order = 4

    def write(self, result: SearchResult, out_dir: Path, score_maps: ScoreMaps = None) -> list[Path]:
        return write_eaf(result, out_dir)


def _eaf_tree(items: Sequence[Annotation], video: Path, eaf_dir: Path) -> ET.ElementTree:
    root = ET.Element(
        "ANNOTATION_DOCUMENT",
        {
            "AUTHOR": "gestsearch",
            "DATE": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
            "FORMAT": "3.0",
            "VERSION": "3.0",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        },
    )
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    # absolute(), not resolve(): resolving would link a symlink's target instead of the path given.
    # Both URLs percent-encode the path's bytes (os.fsencode), so file names that are not UTF-8 survive.
    video = video.absolute()
    relative = urllib.parse.quote(os.fsencode(Path(os.path.relpath(video, eaf_dir.absolute())).as_posix()))
    ET.SubElement(
        header,
        "MEDIA_DESCRIPTOR",
        {
            "MEDIA_URL": video.as_uri(),
            "MIME_TYPE": MIME_TYPES.get(video.suffix.lower(), "unknown"),
            "RELATIVE_MEDIA_URL": relative if relative.startswith("../") else f"./{relative}",
        },
    )
    ET.SubElement(header, "PROPERTY", {"NAME": "URN"}).text = f"urn:nl-mpi-tools-elan-eaf:{uuid.uuid4()}"
    ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"}).text = str(len(items))

    # Two time slots per annotation, numbered in time order.
    ends = sorted((ms, i, side) for i, a in enumerate(items) for side, ms in enumerate((a.begin_ms, a.end_ms)))
    slot = {(i, side): f"ts{n}" for n, (_, i, side) in enumerate(ends, start=1)}
    time_order = ET.SubElement(root, "TIME_ORDER")
    for n, (ms, _, _) in enumerate(ends, start=1):
        ET.SubElement(time_order, "TIME_SLOT", {"TIME_SLOT_ID": f"ts{n}", "TIME_VALUE": str(ms)})

    tiers: dict[str, ET.Element] = {}
    for i, a in enumerate(items):
        if a.tier not in tiers:
            tiers[a.tier] = ET.SubElement(
                root,
                "TIER",
                {"LINGUISTIC_TYPE_REF": "default-lt", "PARTICIPANT": participant(a.hit.track), "TIER_ID": a.tier},
            )
        alignable = ET.SubElement(
            ET.SubElement(tiers[a.tier], "ANNOTATION"),
            "ALIGNABLE_ANNOTATION",
            {"ANNOTATION_ID": f"a{i + 1}", "TIME_SLOT_REF1": slot[i, 0], "TIME_SLOT_REF2": slot[i, 1]},
        )
        ET.SubElement(alignable, "ANNOTATION_VALUE").text = a.value
    ET.SubElement(
        root,
        "LINGUISTIC_TYPE",
        {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": "default-lt", "TIME_ALIGNABLE": "true"},
    )
    ET.indent(root)
    return ET.ElementTree(root)
