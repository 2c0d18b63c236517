"""The web UI in a real browser (Debian's chromium driven by Playwright) against a real index of
synthetic talks served by uvicorn with an access token: the token prompt, text search, playing a
hit's gesture span and looping it, export, browse → "find speech like these gestures", API errors,
keyboard navigation, and the layout at phone and desktop widths."""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gestsearch.synth.speech import espeak_available
from gestsearch.testing.server import serving

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else shutil.which("chromium")
TOKEN = "browser-test-token"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine"),
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")
httpx = pytest.importorskip("httpx")


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def talks(tmp_path_factory) -> Path:
    """Four synthetic talks (H.264 mp4 with sound, transcripts beside them)."""
    from gestsearch.synth import generate_corpus

    folder = tmp_path_factory.mktemp("browser") / "talks"
    generate_corpus(folder, 4, seed=31, workers=1)
    return folder


@pytest.fixture(scope="module")
def server(talks: Path) -> Iterator[str]:
    """The talks indexed with the bundled model and served with a token; the base URL."""

    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder
    from gestsearch.serve import create_app
    from indexer import index_folder

    embedder = Embedder.from_settings(Settings())
    db = talks.parent / "index.lance"
    index_folder(talks, embedder, db)
    app = create_app(Settings(db=db), token=TOKEN, embedder=embedder, cache_dir=talks.parent / "cuts")

    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    home = tmp_path_factory.mktemp("chromium-home")
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache")}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, env=env,
                                    args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required",
                                          # a microphone that beeps, granted without asking
                                          "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
        yield browser
        browser.close()


def new_page(browser, server: str, width: int, with_cookie: bool = True):
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    if with_cookie:
        context.add_cookies([{"name": "gestsearch_token", "value": TOKEN, "url": server}])
    page = context.new_page()
    errors: list[str] = []  # uncaught script errors
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def api_search(server: str, q: str) -> dict:
    response = httpx.get(f"{server}/api/search", params={"q": q}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    response.raise_for_status()
    return response.json()


def search(page, q: str) -> None:
    page.fill("#q", q)
    page.press("#q", "Enter")
    page.locator(".card").first.wait_for(timeout=30_000)


def player_time(page, card: int = 0) -> dict:
    """The card's player clock in seconds of the source video (a cut's clock starts at its offset)."""
    return page.evaluate("""(i) => {
        const v = document.querySelectorAll('.card video')[i];
        return {t: v.currentTime + Number(v.dataset.offset), paused: v.paused, error: v.error && v.error.code};
    }""", card)


# ------------------------------------------------------------------------------------- tests


def test_token_search_play_loop_and_export(browser, server):
    page, errors = new_page(browser, server, 1280, with_cookie=False)
    prompts: list[str] = []

    def answer(dialog) -> None:
        prompts.append(dialog.message)
        dialog.accept(TOKEN)

    page.on("dialog", answer)
    page.goto(server + "/")
    page.wait_for_function("document.querySelector('#info').textContent.includes('clips')")
    assert len(prompts) == 1 and "token" in prompts[0]
    assert {"name": "gestsearch_token", "value": TOKEN} in [{"name": c["name"], "value": c["value"]} for c in page.context.cookies()]

    search(page, "cut")
    expected = api_search(server, "cut")
    cards = page.locator(".card")
    assert cards.count() == len(expected["hits"]) >= 1
    assert page.locator(".card").first.get_attribute("data-clip-id") == expected["hits"][0]["clip_id"]
    assert "hits for “cut”" in page.text_content("#status")
    hit = expected["hits"][0]
    start, end = hit["span_start_s"], hit["span_end_s"]

    # Enter on the focused card plays its gesture span: the clock starts at the span and runs on.
    cards.first.focus()
    page.keyboard.press("Enter")
    times = []
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and (len(times) < 3 or times[-1] < start + 0.3):
        now = player_time(page)
        assert now["error"] is None, f"the video failed to play: media error {now['error']}"
        if not now["paused"]:
            times.append(now["t"])
        time.sleep(0.1)
    assert times, "the player never started"
    assert start - 0.1 <= times[0] <= start + 0.6, (start, times)
    assert times[-1] > times[0] + 0.2 and times == sorted(times), times

    # `l` loops the span: the clock keeps coming back to its start instead of running past its end.
    page.keyboard.press("l")
    assert page.locator(".card .loop").first.is_checked()
    looped = []
    deadline = time.monotonic() + max(3.0, 2.5 * (end - start))
    while time.monotonic() < deadline:
        looped.append(player_time(page)["t"])
        time.sleep(0.05)
    settled = looped[5:]  # the first samples may still be past the end, before the first jump back
    assert all(start - 0.1 <= t <= end + 0.35 for t in settled), (start, end, settled)
    assert any(b < a - 0.1 for a, b in zip(looped, looped[1:])), f"never jumped back to the span start: {looped}"

    with page.expect_download(timeout=30_000) as download_info:
        page.click("#export button[data-format=csv]")
    download = download_info.value
    assert download.suggested_filename == "results.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert [r["clip_id"] for r in rows] == [h["clip_id"] for h in expected["hits"]]
    assert float(rows[0]["span_start_s"]) == pytest.approx(start)
    assert len(prompts) == 1, "asked for the token more than once"
    assert page.locator("#error").is_hidden() and not errors


def test_layout_keys_browse_and_errors(browser, server):
    page, errors = new_page(browser, server, 390)
    page.goto(server + "/?q=cut")  # a shared search link runs its query
    page.locator(".card").first.wait_for(timeout=30_000)
    n = page.locator(".card").count()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    lefts = {round(b["x"]) for b in (page.locator(".card").nth(i).bounding_box() for i in range(n))}
    assert len(lefts) == 1, "cards should stack in one column on a phone"

    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280 + 1
    if n >= 2:
        first, second = page.locator(".card").nth(0).bounding_box(), page.locator(".card").nth(1).bounding_box()
        assert first["y"] == second["y"] and second["x"] > first["x"], "cards should sit side by side on a desktop"

    # Keys: "/" focuses the search box; j and k move between the cards.
    page.locator("h1").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.clipId") == page.locator(".card").nth(0).get_attribute("data-clip-id")
    if n >= 2:
        page.keyboard.press("j")
        assert page.evaluate("document.activeElement.dataset.clipId") == page.locator(".card").nth(1).get_attribute("data-clip-id")
        page.keyboard.press("k")
        assert page.evaluate("document.activeElement.dataset.clipId") == page.locator(".card").nth(0).get_attribute("data-clip-id")

    # An API error is one readable line in the page.
    page.locator("summary", has_text="Filters").click()
    page.fill("#filters [name=min_duration]", "-1")
    search(page, "big")
    page.locator("#error").wait_for(state="visible")
    assert "min_duration" in page.text_content("#error") and "\n" not in page.text_content("#error")
    page.fill("#filters [name=min_duration]", "")

    # Browse: list the videos, play a clip, and search speech like its gestures.
    page.click(".tab[data-view=browse]")
    page.locator("button.clip").first.wait_for()
    assert "of 4" in page.text_content("#browse-status")
    page.locator("button.clip").first.click()
    player = page.locator("#browse-player .card")
    player.wait_for()
    page.wait_for_function("!document.querySelector('#browse-player video').paused", timeout=10_000)
    player.locator("button", has_text="Find speech like these gestures").click()
    page.wait_for_function("document.querySelector('#status').textContent.includes('gestures of clip')", timeout=30_000)
    assert page.locator("#view-search .card").count() >= 1
    assert page.locator("#error").is_hidden() and not errors


def test_a_source_browsers_cannot_play_plays_as_a_cut(browser, server):
    """A hit whose video is not mp4/webm plays from /api/media/cut, whose clock starts at the clip."""
    page, errors = new_page(browser, server, 1280)

    def as_avi(route) -> None:  # the same hit, as if its file were an .avi: only the player's source changes
        response = route.fetch()
        doc = response.json()
        hit = max(doc["hits"], key=lambda h: h["clip_start_s"])  # a clip that starts after 0 s: a real offset
        doc["hits"] = [{**hit, "video_path": hit["video_path"][: -len(".mp4")] + ".avi"}]
        route.fulfill(response=response, json=doc)

    page.route("**/api/search?*", as_avi)
    page.goto(server + "/")
    search(page, "down")
    hit = max(api_search(server, "down")["hits"], key=lambda h: h["clip_start_s"])
    assert hit["clip_start_s"] > 0
    video = page.locator(".card video")
    assert "/api/media/cut/" in video.get_attribute("src")
    assert float(video.get_attribute("data-offset")) == pytest.approx(hit["clip_start_s"], abs=0.021)
    page.locator(".card button", has_text="Play gesture").click()
    page.wait_for_function("(() => { const v = document.querySelector('.card video'); return !v.paused && v.currentTime > 0; })()",
                           timeout=30_000)
    now = player_time(page)
    assert now["error"] is None and hit["span_start_s"] - 0.1 <= now["t"] <= hit["span_end_s"] + 0.5, (hit, now)
    assert not errors


def test_speech_search_by_file_and_by_microphone(browser, server, talks):
    page, errors = new_page(browser, server, 1280)
    page.goto(server + "/")
    page.locator("summary", has_text="Search by speech").click()
    page.set_input_files("#audio-file", str(talks / "synth31_00002.mp4"))  # the server takes the sound of an mp4
    page.fill("#transcript", "big country")
    page.locator("#audio-form button[type=submit]").click()
    page.wait_for_function("document.querySelector('#status').textContent.includes('hits for “big country” (speech)')",
                           timeout=30_000)
    assert page.locator(".card").count() >= 1

    record = page.locator("#record")  # shown where MediaRecorder and a microphone are available
    assert record.is_visible()
    page.fill("#transcript", "stop with")
    record.click()
    page.wait_for_function("document.querySelector('#record').textContent.startsWith('Stop (1')", timeout=10_000)
    record.click()
    page.wait_for_function("document.querySelector('#status').textContent.includes('hits for “stop with” (speech)')",
                           timeout=30_000)
    assert record.text_content() == "Record"
    assert page.locator("#error").is_hidden() and not errors
