"""``--format pose``: landmark layout, frame count against the hit span, the TED joint mapping, and
end to end on decoded video (a rendered synthetic speaker; a real JEGAL sample when present)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from gestsearch.errors import MediaError
from gestsearch.export import EXPORT_FORMATS, export_results, read_manifest
from gestsearch.export.pose import POSE_SCHEMA, write_pose
from gestsearch.export.ted import TED_EXPRESSIVE, TED_GESTURE, direction_vectors, map_joints
from gestsearch.media.pose import HAND_LANDMARKS, POSE_LANDMARKS
from gestsearch.results import Hit, SearchResult
from gestsearch.testing.media import write_video

slow = pytest.mark.slow  # MediaPipe on decoded video (a few seconds each): see `make test-fast`
FPS = 25
N_FRAMES = 50  # of the rendered clip: 2 s
SPAN = (0.37, 1.49)  # frames 9 .. 9 + round(1.12 * 25) = 28 frames, not aligned to whole frames

ARRAYS = {  # name → (shape after T, dtype)
    "frame_index": ((), "int64"),
    "time_s": ((), "float64"),
    "pose": ((33, 4), "float32"),
    "pose_world": ((33, 4), "float32"),
    "hands": ((2, 21, 4), "float32"),
    "ted_gesture_joints": ((10, 3), "float32"),
    "ted_gesture_confidence": ((10,), "float32"),
    "ted_gesture_dir_vec": ((9, 3), "float32"),
    "ted_gesture_dir_vec_2d": ((9, 3), "float32"),
    "ted_expressive_joints": ((43, 3), "float32"),
    "ted_expressive_confidence": ((43,), "float32"),
    "ted_expressive_dir_vec": ((42, 3), "float32"),
    "ted_expressive_dir_vec_2d": ((42, 3), "float32"),
}


def hit_for(video: Path | str, span: tuple[float, float], rank: int = 1, track: int = 0) -> Hit:
    return Hit(rank, f"clip{rank}", str(video), track, 0.0, 2.0, *span, 0.8, 0.7, 0.6, text="so take a walk")


def load(stem: Path) -> tuple[dict[str, np.ndarray], dict, dict]:
    """The NPZ arrays, its meta, and the JSON document of one hit's pose files."""
    with np.load(stem.with_name(stem.name + ".npz")) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "meta"}
        meta = json.loads(str(npz["meta"]))
    doc = json.loads(stem.with_name(stem.name + ".json").read_text(encoding="utf-8"))
    return arrays, meta, doc


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A 2 s synthetic speaker (gestsearch.synth, 480x270, one gesture) and the wrists drawn (T, 2, 2) px."""
    from gestsearch.synth.lexicon import LEXICON
    from gestsearch.synth.motion import GestureEvent, Style, pose_track
    from gestsearch.synth.render import render, sample_appearance

    rng = np.random.default_rng(3)
    word = sorted(LEXICON)[0]
    events = [GestureEvent(word, 0.4, 0.4 + LEXICON[word].duration, 1.0, (0.0, 0.0))]
    clip = render(sample_appearance(rng), pose_track(N_FRAMES, events, [1.6], Style(1.0, 1.0, 0.3, (36.0, 105.0)), rng))
    path = write_video(tmp_path_factory.mktemp("pose_media") / "speaker.mp4", clip.frames)
    return path, clip.wrists


@pytest.fixture(scope="module")
def exported(rendered, tmp_path_factory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("pose_export")
    result = SearchResult("take a walk", "text", "seed1", [hit_for(rendered[0], SPAN)])
    return out, export_results(result, out, ["json", "pose", "mp4"])


# --- layout -------------------------------------------------------------------------------


@slow
def test_pose_is_an_export_format_writing_three_files_per_hit_beside_its_cut(exported) -> None:
    out, written = exported
    assert "pose" in EXPORT_FORMATS
    assert [p.name for p in written] == [
        "001_clip1.mp4", "001_clip1.pose.npz", "001_clip1.pose.json", "001_clip1.pose.mp4", "results.json"]
    assert read_manifest(out) == [p.name for p in written]


@slow
def test_arrays_have_the_documented_keys_shapes_and_dtypes(rendered, exported) -> None:
    arrays, meta, doc = load(exported[0] / "001_clip1.pose")
    n = round((SPAN[1] - SPAN[0]) * FPS)
    assert list(arrays) == list(ARRAYS) == list(meta["arrays"])
    for name, (shape, dtype) in ARRAYS.items():
        assert arrays[name].shape == (n, *shape) and str(arrays[name].dtype) == dtype, name
        assert meta["arrays"][name]["shape"] == [n, *shape] and meta["arrays"][name]["dtype"] == dtype
    assert meta["schema"] == doc["schema"] == POSE_SCHEMA
    assert meta["fps"] == FPS and meta["pose_landmarks"] == list(POSE_LANDMARKS) and meta["hand_landmarks"] == list(HAND_LANDMARKS)
    assert meta["hands"] == ["left", "right"]
    assert meta["ted_gesture"]["joints"] == list(TED_GESTURE.joints) and len(meta["ted_gesture"]["bones"]) == 9
    assert meta["ted_expressive"]["not_filled"] and meta["ted_expressive"]["approximated"]
    assert meta["hit"]["video_path"] == str(rendered[0])
    assert (meta["hit"]["track"], meta["hit"]["span_start_s"], meta["hit"]["span_end_s"]) == (0, *SPAN)


@slow
def test_the_json_holds_the_same_arrays_as_the_npz(exported) -> None:
    arrays, meta, doc = load(exported[0] / "001_clip1.pose")
    assert {k: v for k, v in doc.items() if k != "data"} == meta
    assert list(doc["data"]) == list(arrays)
    for name, array in arrays.items():
        decimals = meta["arrays"][name]["json_decimals"]
        from_json = np.array(doc["data"][name], dtype=np.float64 if decimals is not None else array.dtype)
        if decimals is None:
            np.testing.assert_array_equal(from_json, array)
        else:  # null is NaN
            tolerance = 0.5 * 10.0**-decimals + 1e-6 * np.nanmax(np.abs(array), initial=0)
            np.testing.assert_allclose(from_json, array, atol=tolerance, rtol=0, equal_nan=True, err_msg=name)


@slow
def test_one_frame_per_25_fps_frame_of_the_hit_span(exported) -> None:
    arrays, meta, _ = load(exported[0] / "001_clip1.pose")
    start, n = round(SPAN[0] * FPS), round((SPAN[1] - SPAN[0]) * FPS)
    assert (meta["start_frame"], meta["n_frames"], meta["n_decoded"]) == (start, n, n) == (9, 28, 28)
    np.testing.assert_array_equal(arrays["frame_index"], np.arange(start, start + n))
    np.testing.assert_allclose(arrays["time_s"], arrays["frame_index"] / FPS)
    with av.open(str(exported[0] / "001_clip1.pose.mp4")) as preview:
        assert sum(1 for _ in preview.decode(video=0)) == n


@slow
def test_a_span_past_the_end_of_the_video_is_padded_with_nan(rendered, tmp_path: Path) -> None:
    write_pose(hit_for(rendered[0], (1.64, 2.44)), tmp_path)
    arrays, meta, _ = load(tmp_path / "001_clip1.pose")
    assert (meta["start_frame"], meta["n_frames"], meta["n_decoded"]) == (41, 20, N_FRAMES - 41)
    assert np.isnan(arrays["pose"][meta["n_decoded"]:]).all() and (arrays["hands"][meta["n_decoded"]:, ..., 3] == 0).all()


def test_a_missing_video_is_one_clear_line(tmp_path: Path) -> None:
    gone = tmp_path / "gone.mp4"
    with pytest.raises(MediaError, match="video is missing") as error:
        export_results(SearchResult("walk", "text", "seed1", [hit_for(gone, (0.2, 1.0))]), tmp_path / "out", ["pose"])
    assert "\n" not in str(error.value) and "gone.mp4" in str(error.value)


# --- the TED joint sets -------------------------------------------------------------------

W, H = 200, 100
# A speaker facing the camera (their left on the image's right), in source pixels.
BODY = {
    "nose": (100, 20), "left_eye": (105, 15), "right_eye": (95, 15), "left_ear": (112, 17), "right_ear": (88, 17),
    "mouth_left": (104, 25), "mouth_right": (96, 25), "left_shoulder": (140, 40), "right_shoulder": (60, 40),
    "left_elbow": (150, 60), "right_elbow": (50, 60), "left_wrist": (160, 80), "right_wrist": (40, 80),
    "left_hip": (130, 90), "right_hip": (70, 90),
}
LEFT_WRIST_DEPTH_M = -0.3  # towards the camera


def hand_made() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame: pose and world landmarks (world = pixels / 100 around the hips, so 100 px per
    metre) and the left hand only (index knuckle 10 px nearer the camera than its wrist)."""
    pose = np.full((1, 33, 4), np.nan, np.float32)
    world = np.full((1, 33, 4), np.nan, np.float32)
    for name, (x, y) in BODY.items():
        i = POSE_LANDMARKS.index(name)
        visibility = 0.3 if name == "left_hip" else 0.9
        pose[0, i] = (x / W, y / H, -0.7, visibility)  # image-space z: not what the depth comes from
        depth = LEFT_WRIST_DEPTH_M if name == "left_wrist" else 0.0
        world[0, i] = ((x - 100) / 100, (y - 90) / 100, depth, visibility)
    hands = np.full((1, 2, 21, 4), np.nan, np.float32)
    hands[..., 3] = 0.0
    hands[0, 0, :, :] = (160 / W, 80 / H, 0.0, 1.0)
    hands[0, 0, HAND_LANDMARKS.index("index_mcp")] = (165 / W, 85 / H, -10 / W, 1.0)
    return pose, world, hands


def test_ted_gesture_joints_from_hand_made_landmarks() -> None:
    joints, confidence = map_joints(TED_GESTURE, *hand_made(), W, H)
    at = {name: joints[0, i] for i, name in enumerate(TED_GESTURE.joints)}
    # origin at the spine (100, 65); x towards the image's left, z towards the camera
    np.testing.assert_allclose(at["spine"], (0, 0, 0), atol=1e-4)
    np.testing.assert_allclose(at["neck"], (0, -25, 0), atol=1e-4)
    np.testing.assert_allclose(at["head"], (0, 7 - 65, 0), atol=1e-4)  # ear midpoint raised by mouth-to-eyes
    np.testing.assert_allclose(at["left_shoulder"], (-40, -25, 0), atol=1e-4)
    np.testing.assert_allclose(at["left_wrist"], (-60, 15, 30), atol=1e-4)  # 0.3 m at 100 px per metre, nearer
    assert confidence[0, TED_GESTURE.joints.index("spine")] == pytest.approx(0.3)  # the least visible point
    dirs = direction_vectors(TED_GESTURE, joints)
    bone = TED_GESTURE.bones.index((TED_GESTURE.joints.index("left_elbow"), TED_GESTURE.joints.index("left_wrist")))
    np.testing.assert_allclose(dirs[0, 0], (0, -1, 0), atol=1e-6)
    np.testing.assert_allclose(dirs[0, bone], np.array([-10, 20, 30]) / np.sqrt(1400), rtol=1e-5)
    flat = direction_vectors(TED_GESTURE, joints, planar=True)
    np.testing.assert_allclose(flat[0, bone], np.array([-10, 20, 0]) / np.sqrt(500), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(dirs[0], axis=-1), 1, rtol=1e-5)


def test_ted_expressive_joints_from_hand_made_landmarks() -> None:
    joints, confidence = map_joints(TED_EXPRESSIVE, *hand_made(), W, H)
    names = TED_EXPRESSIVE.joints
    assert len(names) == 43 and len(TED_EXPRESSIVE.bones) == 42
    assert names[:8] == ("spine", "neck", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                         "left_wrist", "right_wrist")  # fmt: skip
    assert names[8:11] == ("left_index1", "left_index2", "left_index3") and names[38:] == (
        "nose", "right_eye", "left_eye", "right_ear", "left_ear")
    assert TED_EXPRESSIVE.bones[5] == (6, 8) and TED_EXPRESSIVE.bones[20] == (3, 5)  # wrist-left index 1; right upper arm
    at = {name: joints[0, i] for i, name in enumerate(names)}
    # camera axes, origin at the spine: the left shoulder on the +x side
    np.testing.assert_allclose(at["left_shoulder"], (40, -25, 0), atol=1e-4)
    np.testing.assert_allclose(at["left_index1"], (65, 20, -40), atol=1e-4)  # the hand's depth joined at the wrist's (-30 px)
    assert np.isnan(at["right_index1"]).all() and confidence[0, names.index("right_index1")] == 0
    assert confidence[0, names.index("left_index1")] == 1
    dirs = direction_vectors(TED_EXPRESSIVE, joints)
    np.testing.assert_allclose(dirs[0, 5], np.array([5, 5, -10]) / np.sqrt(150), rtol=1e-5)
    assert np.isnan(dirs[0, 22]).all()  # right wrist → right index 1: no right hand


# --- end to end on decoded video ----------------------------------------------------------


@slow
def test_landmarks_land_on_the_rendered_wrists(rendered, exported) -> None:
    """The synthetic speaker's drawn wrists against the exported pose wrists, in source pixels:
    checks the crop box → whole frame mapping and that frame i is source frame start + i."""
    path, truth = rendered
    arrays, meta, _ = load(exported[0] / "001_clip1.pose")
    wrists = arrays["pose"][:, [POSE_LANDMARKS.index("left_wrist"), POSE_LANDMARKS.index("right_wrist")], :2] * (480, 270)
    drawn = truth[arrays["frame_index"]]
    found = np.isfinite(wrists).all(axis=(1, 2))
    assert found.mean() >= 0.9, meta["landmarks_from"]
    # either wrist may be the dominant one drawn: match the pair per frame
    error = np.minimum(np.linalg.norm(wrists - drawn, axis=-1).mean(-1), np.linalg.norm(wrists - drawn[:, ::-1], axis=-1).mean(-1))
    assert np.median(error[found]) < 20, np.round(error, 1)


@slow
def test_a_real_talk_has_the_datasets_axes(shared_data: Path, tmp_path: Path) -> None:
    """On a real speaker (JEGAL sample 1, pre-cropped) the directions have the signs the datasets'
    mean direction vectors show: spine → neck up, the left shoulder on TED Gesture's -x and TED
    Expressive's +x, the nose in front of the neck."""
    write_pose(hit_for(shared_data / "jegal_samples" / "sample1.avi", (0.4, 1.0)), tmp_path)
    arrays, meta, _ = load(tmp_path / "001_clip1.pose")
    assert meta["crop_box"] is None and meta["n_frames"] == meta["n_decoded"] == 15
    assert np.isfinite(arrays["pose"][:, 0, 0]).mean() >= 0.9
    gesture = np.nanmedian(arrays["ted_gesture_dir_vec"][:, [0, 3, 1]], axis=0)  # body bones: found in every frame
    expressive = np.nanmedian(arrays["ted_expressive_dir_vec"][:, [0, 1, 37]], axis=0)
    assert gesture[0, 1] < -0.8 and expressive[0, 1] < -0.8  # spine → neck
    assert gesture[1, 0] < -0.5 and expressive[1, 0] > 0.5  # neck → left shoulder
    assert gesture[2, 2] > 0 and expressive[2, 2] < 0  # neck → nose: towards the camera


@slow
def test_the_serve_api_exports_pose_as_a_zip(rendered, tmp_path: Path) -> None:
    """``POST /api/export?format=pose`` on an index whose one clip is the rendered video (synthetic
    vectors: the export reads only the hit and the file)."""
    import io
    import zipfile
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from gestsearch.assets import bundled_model
    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder, fingerprint
    from gestsearch.serve import create_app
    from gestsearch.store import GestureStore
    from gestsearch.testing.store import synthetic_video

    video, db = rendered[0], tmp_path / "index.lance"
    with GestureStore.open(db, fingerprint=fingerprint(*bundled_model()), create=True) as store:
        record, clips = synthetic_video(video, store.fingerprint, n_clips=1, n_frames=N_FRAMES)
        stat = video.stat()
        store.add_video(replace(record, size_bytes=stat.st_size, mtime=stat.st_mtime), clips)
    hit = replace(hit_for(video, SPAN), clip_id=str(clips[0].clip_id))
    app = create_app(Settings(db=db), embedder=Embedder.from_settings(Settings(device="cpu")), cache_dir=tmp_path / "cuts")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/api/export", params={"format": "pose"}, json=SearchResult("walk", "text", "x", [hit]).to_dict())
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip", response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        stem = f"001_{clips[0].clip_id}.pose"
        assert archive.namelist() == [f"{stem}.npz", f"{stem}.json", f"{stem}.mp4"]
        doc = json.loads(archive.read(f"{stem}.json"))
    assert doc["schema"] == POSE_SCHEMA and doc["n_frames"] == round((SPAN[1] - SPAN[0]) * FPS)
