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
    assert s.jegal == Path("/models/jegal.pth") and s.window_batch("cuda") == 16 and s.device == "cuda"
    monkeypatch.delenv("GESTSEARCH_BATCH_SIZE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nothing here"))
    defaults = Settings.load()  # no config file at the default place: defaults, larger on a GPU
    assert (defaults.window_batch("cpu"), defaults.window_batch("cuda:1")) == (256, 1024)


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_named_config_file_must_exist(tmp_path, monkeypatch, how):
    """A typo in --config (or GESTSEARCH_CONFIG) must not drop every setting without a word."""
    absent = tmp_path / "absent.toml"
    if how == "environment":
        monkeypatch.setenv("GESTSEARCH_CONFIG", str(absent))
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(absent if how == "option" else None)


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_device_spellings(device):
    assert Settings.load(device=device).device == device


def test_cuda_without_a_gpu_is_an_error_and_auto_falls_back(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Settings.load(device="auto").torch_device() == "cpu"
    with pytest.raises(ConfigError, match="no usable CUDA GPU"):
        Settings.load(device="cuda").torch_device()


def test_cpu_only_is_decided_without_torch(tmp_path, monkeypatch):
    from gestsearch import config

    driver = tmp_path / "nvidia-version"
    monkeypatch.setattr(config, "NVIDIA_DRIVER", driver)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert Settings.load(device="cpu").cpu_only() and not Settings.load(device="cuda:1").cpu_only()
    assert Settings.load(device="auto").cpu_only()  # no NVIDIA driver: no GPU to find
    driver.write_text("NVRM version: 570")
    assert not Settings.load(device="auto").cpu_only()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert Settings.load(device="auto").cpu_only()


def test_default_config_location(tmp_path, monkeypatch):
    (tmp_path / "gestsearch").mkdir()
    (tmp_path / "gestsearch" / "config.toml").write_text('db = "~/archive.lance"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("GESTSEARCH_CONFIG", raising=False)
    assert Settings.load().db == Path("~/archive.lance").expanduser()


@pytest.mark.parametrize("content, message", [
    ("batch_size = 0", "invalid value for batch_size"),
    ("colour = 'red'", "unknown setting"),
    ("this is not toml", "is not valid TOML"),
    ("device = 'tpu:9'", "invalid value for device"),
])
def test_bad_config(tmp_path, content, message):
    config = tmp_path / "config.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        Settings.load(config)


def test_a_config_file_that_is_not_utf8(tmp_path):
    config = tmp_path / "config.toml"
    config.write_bytes(b"\xff\xfe batch_size = 3")
    with pytest.raises(ConfigError, match="not UTF-8"):
        Settings.load(config)
