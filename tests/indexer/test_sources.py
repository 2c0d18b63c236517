"""What `gestsearch index` reads: folders, one video, lists of paths and URIs (no models, no Ray)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gestsearch.errors import ConfigError, GestsearchError
from gestsearch.store import video_id_for
from indexer.sources import fetched, find_sources, is_remote, read_list


def test_a_folder_lists_its_videos_and_a_video_itself(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "talk.mp4").write_bytes(b"x")
    (tmp_path / "b.AVI").write_bytes(b"x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.mp4").write_bytes(b"x")
    (tmp_path / "talk.txt").write_text("a transcript\n")
    assert find_sources(tmp_path) == [str(tmp_path / "a" / "talk.mp4"), str(tmp_path / "b.AVI")]
    assert find_sources(tmp_path / "b.AVI") == [str(tmp_path / "b.AVI")]
    with pytest.raises(GestsearchError, match="no such file or directory"):
        find_sources(tmp_path / "missing")


def test_a_list_names_paths_and_uris(tmp_path):
    listing = tmp_path / "lists" / "videos.txt"
    listing.parent.mkdir()
    target = tmp_path / "talk one.mp4"
    listing.write_text(
        "# comment\n\n"
        "../talk one.mp4\n"  # relative to the list's folder
        f"{target}\n"  # the same file again: listed once
        f"{target.as_uri()}\n"  # file:// (percent-encoded)
        "  s3://bucket/talks/a.mp4  \n"
        "gs://bucket/b.mkv\n"
    )
    assert read_list(listing) == [str(target), "s3://bucket/talks/a.mp4", "gs://bucket/b.mkv"]
    assert find_sources(listing) == read_list(listing)
    assert not is_remote(str(target)) and is_remote("s3://bucket/talks/a.mp4")


def test_an_unsupported_scheme_is_one_clear_line(tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text("ftp://host/talk.mp4\n")
    with pytest.raises(ConfigError) as e:
        find_sources(listing)
    assert str(e.value) == (
        f"{listing}:1: ftp://host/talk.mp4: unsupported URI scheme 'ftp' "
        "(use a path, file://, or s3://, gs://, gcs://, hdfs://, viewfs://, abfs://, abfss://)"
    )
    binary = tmp_path / "notes.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(GestsearchError, match="not a video .* nor a UTF-8 text file listing videos"):
        find_sources(binary)


def test_uris_get_stable_video_ids(tmp_path, monkeypatch):
    uri = "s3://bucket/talks/a.mp4"
    first = video_id_for(uri)
    monkeypatch.chdir(tmp_path)  # a path would be made absolute against the working folder; a URI is not
    assert video_id_for(uri) == first != video_id_for("s3://bucket/talks/b.mp4")
    assert video_id_for(tmp_path / "a.mp4") == video_id_for("a.mp4")


def test_fetched_copies_the_video_and_its_sidecars(shared_data, tmp_path):
    """The copy an actor embeds an object elsewhere from (pyarrow.fs reads file:// like s3://)."""
    for ext in (".avi", ".wav", ".txt"):
        shutil.copy(shared_data / "jegal_samples" / f"sample1{ext}", tmp_path / f"sample1{ext}")
    source = tmp_path / "sample1.avi"
    with fetched(source.as_uri()) as local:
        assert local.read_bytes() == source.read_bytes() and local.parent != tmp_path
        assert sorted(p.name for p in local.parent.iterdir()) == ["sample1.avi", "sample1.txt", "sample1.wav"]
        copy = local.parent
    assert not copy.exists()
    with pytest.raises(GestsearchError, match="cannot copy"), fetched((tmp_path / "missing.mp4").as_uri()):
        pass


def test_without_ray_the_cli_says_what_to_install(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    result = CliRunner().invoke(app, ["index", str(tmp_path), "--ray", "auto", "--db", str(tmp_path / "db")])
    assert result.exit_code == 2
    assert "install gestsearch[ray]" in result.output and len(result.output.strip().splitlines()) == 1


def test_prune_needs_a_folder(tmp_path):
    from gestsearch.embedding import ModelInfo
    from indexer.pipeline import index_run

    listing = tmp_path / "videos.txt"
    listing.write_text("")
    with pytest.raises(ConfigError, match="--prune needs a folder"), index_run(listing, tmp_path / "db", ModelInfo("m", "f"), prune=True):
        pass
    assert not (tmp_path / "db").exists()


def test_importing_the_ray_path_loads_no_ray():
    """Ray loads when a run starts, not when the indexer is imported."""
    code = "import sys, indexer.distributed, cli.index; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
