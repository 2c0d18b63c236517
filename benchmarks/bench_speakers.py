"""Speaking scores on two-person synthetic archives, through the product path.

    .venv/bin/python benchmarks/bench_speakers.py OUT [--tune-seed 100] [--seed 101] [--clips 24]

For a tuning archive (``--tune-seed``) and an unseen one (``--seed``), each rendered with
``gestsearch synth --people 2`` and indexed with ``gestsearch index`` (subprocesses, the bundled
model unless GESTSEARCH_GESTSYNC / GESTSEARCH_JEGAL are set):

1. Reads every clip's stored speaking score and labels it from the ground truth: the clip's
   track shows the person who speaks during the clip's words (speaker) or the other (listener).
   Reports the share of speaker clips scoring >= the threshold, of listener clips below it,
   clips without a score (a person the face tracker missed, so one track) and the margins
   cos(speech, own gesture) - cos(speech, other's gesture).
2. Tuning archive only: the same shares for other temperatures and thresholds, recomputed from
   the stored vectors (``speaking_scores``), which is how SPEAKING_TEMPERATURE/THRESHOLD were set.
3. Unseen archive: one ``gestsearch search --json -k K WORD`` per lexicon word, with and without
   ``--speakers-only``: listener and speaker hits in each, i.e. how many listener hits the flag
   removes and how many speaker hits it loses.

Writes OUT/speakers.json and prints the figures with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from gestsearch.constants import SPEAKING_TEMPERATURE, SPEAKING_THRESHOLD
from gestsearch.ingest import speaking_scores
from gestsearch.store import GestureStore
from gestsearch.synth import LEXICON, MANIFEST_NAME
from gestsearch.synth.truth import speaker_during, speaking_turns, track_people

GESTSEARCH = str(Path(sys.executable).with_name("gestsearch"))
TEMPERATURES = (0.01, 0.02, 0.05, 0.1, 0.2)
THRESHOLDS = (0.3, 0.5, 0.7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tune-seed", type=int, default=100)
    parser.add_argument("--seed", type=int, default=101, help="unseen: not used to choose any setting")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("-k", type=int, default=20, help="hits per word query")
    args = parser.parse_args()
    report: dict[str, object] = {"load_before": os.getloadavg()}
    for name, seed in (("tune", args.tune_seed), ("unseen", args.seed)):
        root = args.out / name
        report[f"{name}_seconds"] = archive(root, seed, args.clips)
        rows = labelled_clips(root)
        report[name] = summary(rows, SPEAKING_THRESHOLD)
        if name == "tune":
            report["tuning"] = {f"T={t} thr={h}": summary(rescored(root, rows, t), h) for t in TEMPERATURES for h in THRESHOLDS}
    report["queries"] = word_queries(args.out / "unseen", args.k)
    report["load_after"] = os.getloadavg()
    (args.out / "speakers.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


def archive(root: Path, seed: int, clips: int) -> dict[str, float]:
    """Render and index (once: kept when OUT/NAME/db exists); the seconds each step took."""
    seconds = {}
    if not (root / "db").exists():
        start = time.perf_counter()
        run("synth", str(root / "media"), "--people", "2", "--clips", str(clips), "--seed", str(seed), "--json")
        seconds["synth"] = time.perf_counter() - start
        start = time.perf_counter()
        run("index", str(root / "media"), "--db", str(root / "db"), "--json")
        seconds["index"] = time.perf_counter() - start
    return seconds


def run(*argv: str) -> str:
    done = subprocess.run([GESTSEARCH, *argv], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"gestsearch {' '.join(argv)} failed:\n{done.stderr}")
    return done.stdout


def labelled_clips(root: Path) -> list[dict]:
    """Every clip with words: video, track, person shown, who speaks, stored score, and the ClipRecord."""
    turns = speaking_turns(root / "media" / MANIFEST_NAME)
    rows = []
    with GestureStore.open(root / "db", read_only=True) as store:
        for name, said in sorted(turns.items()):
            video = (root / "media" / name).absolute()
            people = track_people(video)
            for clip in store.clips_of_video(video):
                if not clip.words:
                    continue
                speaker = speaker_during(said, clip.words[0][1], clip.words[-1][2])
                rows.append({"video": name, "track": clip.track, "n_tracks": len(people), "speaks": people[clip.track] == speaker,
                             "score": clip.speaking, "clip": clip})
    return rows


def rescored(root: Path, rows: list[dict], temperature: float) -> list[dict]:
    """``rows`` with scores recomputed at ``temperature`` from the vectors the index stores."""
    by_video: dict[str, list[dict]] = {}
    for row in rows:
        by_video.setdefault(row["video"], []).append(row)
    out = []
    for group in by_video.values():
        scores = speaking_scores([r["clip"] for r in group], temperature)
        out += [r | {"score": s} for r, s in zip(group, scores)]
    return out


def summary(rows: list[dict], threshold: float) -> dict[str, object]:
    scored = [r for r in rows if r["score"] is not None]
    speaker = np.array([r["score"] for r in scored if r["speaks"]])
    listener = np.array([r["score"] for r in scored if not r["speaks"]])
    margins = [margin(r, rows) for r in scored if r["speaks"]]
    margins = [m for m in margins if m is not None]
    return {
        "clips": len(rows),
        "unscored": len(rows) - len(scored),
        "unscored_videos_one_track": sorted({r["video"] for r in rows if r["n_tracks"] < 2}),
        "speaker_clips": len(speaker),
        "listener_clips": len(listener),
        "speaker_high": float(np.mean(speaker >= threshold)) if len(speaker) else None,
        "listener_low": float(np.mean(listener < threshold)) if len(listener) else None,
        "accuracy": float(np.mean(np.concatenate([speaker >= threshold, listener < threshold]))) if scored else None,
        "speaker_score_min": float(speaker.min()) if len(speaker) else None,
        "listener_score_max": float(listener.max()) if len(listener) else None,
        "margin_min": float(min(margins)) if margins else None,
        "margin_median": float(np.median(margins)) if margins else None,
    }


def margin(row: dict, rows: list[dict]) -> float | None:
    """cos(speech, own pooled gesture) - best cos(speech, the pooled gesture of another track's
    clip overlapping it: the same phrase, as every track is cut at the same phrases)."""
    clip = row["clip"]
    own = cosine(clip.content, clip.frames)
    others = [cosine(clip.content, r["clip"].frames) for r in rows
              if r["video"] == row["video"] and r["clip"].track != clip.track
              and r["clip"].start_frame <= clip.end_frame and clip.start_frame <= r["clip"].end_frame]
    return own - max(others) if others else None


def cosine(content: np.ndarray, frames: np.ndarray) -> float:
    pooled = np.asarray(frames, np.float32).mean(0)
    return float(content @ pooled / (np.linalg.norm(content) * np.linalg.norm(pooled)))


def word_queries(root: Path, k: int) -> dict[str, object]:
    """Speaker and listener hits of one text query per lexicon word, without and with --speakers-only."""
    turns = speaking_turns(root / "media" / MANIFEST_NAME)
    people = {name: track_people((root / "media" / name).absolute()) for name in turns}
    counts = {"all": {"speaker": 0, "listener": 0, "unknown": 0}, "speakers_only": {"speaker": 0, "listener": 0, "unknown": 0}}
    top1 = {"all": 0, "speakers_only": 0}
    for word in sorted(LEXICON):
        for mode, flags in (("all", []), ("speakers_only", ["--speakers-only"])):
            result = json.loads(run("search", word, "--db", str(root / "db"), "-k", str(k), "--json", *flags))
            for rank, hit in enumerate(result["hits"]):
                name = Path(hit["video_path"]).name
                first, last = round(hit["clip_start_s"] * 25), round(hit["clip_end_s"] * 25) - 1
                speaker = speaker_during(turns[name], first, last)
                kind = "unknown" if speaker is None else "speaker" if people[name][hit["track"]] == speaker else "listener"
                counts[mode][kind] += 1
                top1[mode] += rank == 0 and kind == "speaker"
    return {"words": len(LEXICON), "k": k, "hits": counts, "top1_is_speaker": top1,
            "temperature": SPEAKING_TEMPERATURE, "threshold": SPEAKING_THRESHOLD}


if __name__ == "__main__":
    main()
