"""`gestsearch models download` against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
FILES = {"gestsync.pth": bytes(range(256)) * 4000, "jegal.pth": b"jegal-weights" * 50000}


class Handler(BaseHTTPRequestHandler):
    honour_range = True
    requests: list[tuple[str, str | None]] = []

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        Handler.requests.append((name, self.headers.get("Range")))
        if name not in FILES or self.path != f"/checkpoints/{name}":
            self.send_error(404, "Not Found")
            return
        data, status = FILES[name], 200
        range_header = self.headers.get("Range")
        if range_header and self.honour_range:
            start = int(range_header.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            data, status = data[start:], 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Handler.requests = []
    Handler.honour_range = True
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/checkpoints"
    httpd.shutdown()
    httpd.server_close()


def download(base_url, out, *extra):
    return runner.invoke(app, ["models", "download", "--dir", str(out), "--base-url", base_url, "--json", *extra])


def test_download_records_sha256(server, tmp_path):
    result = download(server, tmp_path)
    assert result.exit_code == 0, result.output
    items = {d["name"]: d for d in json.loads(result.stdout)}
    recorded = json.loads((tmp_path / "checksums.json").read_text())
    for name, data in FILES.items():
        assert (tmp_path / name).read_bytes() == data
        assert items[name]["sha256"] == recorded[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert items[name]["status"] == "downloaded"
    again = download(server, tmp_path)
    assert {d["status"] for d in json.loads(again.stdout)} == {"present"}


def test_download_resumes_a_partial_file(server, tmp_path):
    data = FILES["jegal.pth"]
    (tmp_path / "jegal.pth.part").write_bytes(data[:1000])
    result = download(server, tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "jegal.pth").read_bytes() == data
    assert ("jegal.pth", "bytes=1000-") in Handler.requests
    assert not (tmp_path / "jegal.pth.part").exists()
    assert {d["name"]: d["status"] for d in json.loads(result.stdout)}["jegal.pth"] == "resumed"


def test_server_without_range_support_restarts(server, tmp_path):
    Handler.honour_range = False
    (tmp_path / "gestsync.pth.part").write_bytes(b"stale bytes")
    result = download(server, tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "gestsync.pth").read_bytes() == FILES["gestsync.pth"]


def test_http_error_is_one_line(server, tmp_path):
    result = download(server + "/missing", tmp_path)
    assert result.exit_code == 2
    assert "HTTP 404" in result.output and "Traceback" not in result.output
    refused = download("http://127.0.0.1:9/none", tmp_path)
    assert refused.exit_code == 2 and "cannot download" in refused.output
