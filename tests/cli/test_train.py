"""`gestsearch synth` and `gestsearch train` from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from gestsearch.synth.speech import espeak_available

runner = CliRunner()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")]


def test_synth_then_train(tmp_path):
    corpus, out, cache = tmp_path / "corpus", tmp_path / "run", tmp_path / "cache"
    made = runner.invoke(app, ["synth", str(corpus), "--clips", "6", "--seed", "5", "--json"])
    assert made.exit_code == 0, made.output
    assert len(list(corpus.glob("*.mp4"))) == 6 and (corpus / "manifest.csv").is_file()
    trained = runner.invoke(app, ["train", str(corpus), str(out), "--epochs", "1", "--batch-size", "4", "--cache-dir", str(cache),
                                  "--word-weight", "0.25", "--query-crop", "0.5", "--feature-dropout", "0.2", "--json"])
    assert trained.exit_code == 0, trained.output
    report = json.loads(trained.stdout)
    assert report["epochs"] == 1 and report["n_train"] + report["n_val"] == 6
    saved = json.loads((out / "config.json").read_text())["config"]
    assert (saved["word_weight"], saved["query_crop"], saved["feature_dropout"]) == (0.25, 0.5, 0.2)
    assert (out / "gestsync.pth").is_file() and (out / "jegal.pth").is_file() and (out / "text").is_dir()
    assert list(cache.glob("features-*.pt")) and not list(out.glob("features-*.pt"))  # the cache went to --cache-dir
    again = runner.invoke(app, ["train", str(corpus), str(out), "--epochs", "1"])
    assert again.exit_code == 2 and "Traceback" not in again.output  # refuses to overwrite a run without --resume


@pytest.mark.parametrize("args, message", [
    (["--preset", "huge"], "'huge' is not one of"),
    (["--preset", "paper"], "--gestsync and --jegal"),
    (["--word-weight", "-1"], "--word-weight"),
    (["--query-crop", "1.5"], "--query-crop"),
    (["--feature-dropout", "1"], "--feature-dropout"),
    (["--pretrained-gestsync", "nowhere.pth"], "checkpoint file not found"),
    (["--pretrained-gestsync", "nowhere.pth", "--pretrain-epochs", "3"], "0 pre-training epochs"),
])
def test_train_bad_arguments(args, message, tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path), str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and message in result.output


def test_train_takes_several_corpora_but_each_once(tmp_path):
    twice = runner.invoke(app, ["train", str(tmp_path), str(tmp_path), str(tmp_path / "out")])
    assert twice.exit_code == 2 and "given twice" in twice.output and "Traceback" not in twice.output
    assert not (tmp_path / "out").exists()
    alone = runner.invoke(app, ["train", str(tmp_path)])
    assert alone.exit_code == 2 and "Missing argument" in alone.output
