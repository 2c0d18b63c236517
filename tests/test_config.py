"""Settings: defaults ← config file ← GESTSEARCH_* environment ← explicit options."""

from pathlib import Path

import pytest

from gestsearch.config import Settings
from gestsearch.errors import ConfigError


def test_precedence(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('jegal = "/models/jegal.pth"\nbatch_size = 8\ndevice = "cpu"\n')
    monkeypatch.setenv("GESTSEARCH_BATCH_SIZE", "16")
    s = Settings.load(config, device="cuda")
    assert s.jegal == Path("/models/jegal.pth") and s.batch_size == 16 and s.device == "cuda"
    monkeypatch.delenv("GESTSEARCH_BATCH_SIZE")
    assert Settings.load(tmp_path / "absent.toml").batch_size == 256


def test_default_config_location(tmp_path, monkeypatch):
    (tmp_path / "gestsearch").mkdir()
    (tmp_path / "gestsearch" / "config.toml").write_text('db = "~/archive.lance"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("GESTSEARCH_CONFIG", raising=False)
    assert Settings.load().db == Path("~/archive.lance").expanduser()


@pytest.mark.parametrize("content, message", [
    ("batch_size = 0", "invalid value for batch_size"),
    ("colour = 'red'", "unknown setting"),
    ("this is not toml", "cannot read config file"),
])
def test_bad_config(tmp_path, content, message):
    config = tmp_path / "config.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        Settings.load(config)
