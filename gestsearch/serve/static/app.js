// The gestsearch web UI: one ES module, no build step, talking to the JSON API under /api.
// Every string from the index (paths, transcripts, notes) goes through textContent, never innerHTML.

const FPS = 25; // the index's time base: frames are 25 fps
const PLAYABLE = /\.(mp4|webm|m4v)$/i; // what browsers decode without a server-side cut
const MAX_CUT_S = 120; // the server refuses longer cuts
const MAX_RECORD_S = 30;
const PAGE = 20; // videos per browse page
const TOKEN_COOKIE = "gestsearch_token";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

const seconds = (s) => `${Number(s).toFixed(2)} s`;
const fileName = (path) => String(path).split(/[\\/]/).pop();

const state = {
  result: null, // the last gestsearch.search/1 document: what the export buttons send
  token: null, // sent as a Bearer header; media requests carry it in the cookie
  tokenInUrl: false, // a token a cookie cannot hold travels in media URLs instead
  browseOffset: 0,
  busy: false,
};

// ------------------------------------------------------------------------------------ API

class ApiError extends Error {}

function askToken() {
  const token = window.prompt("This gestsearch server needs its access token:");
  if (!token?.trim()) return false;
  setToken(token.trim());
  return true;
}

function setToken(token) {
  state.token = token;
  // The server reads the cookie verbatim, and cookie values cannot hold spaces, commas, semicolons,
  // quotes or backslashes: such a token travels in media URLs instead.
  state.tokenInUrl = !/^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$/.test(token);
  if (!state.tokenInUrl) document.cookie = `${TOKEN_COOKIE}=${token}; path=/; SameSite=Strict`;
}

async function api(path, options = {}) {
  const sentWith = state.token;
  const headers = sentWith ? { Authorization: `Bearer ${sentWith}` } : {};
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...headers, ...options.headers } });
  } catch {
    throw new ApiError("cannot reach the gestsearch server");
  }
  // Requests that were already under way when the token was entered retry without asking again.
  if (response.status === 401 && (state.token !== sentWith || askToken())) return api(path, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error) message = body.error;
    } catch { /* not JSON: keep the status line */ }
    throw new ApiError(message);
  }
  return response;
}

const apiJson = async (path, options) => (await api(path, options)).json();

function mediaUrl(path) {
  if (!state.tokenInUrl) return path;
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(state.token)}`;
}

function showError(error) {
  const line = $("#error");
  if (!error) {
    line.hidden = true;
    return;
  }
  line.textContent = error instanceof ApiError ? error.message : `unexpected error: ${error.message || error}`;
  line.hidden = false;
  if (!(error instanceof ApiError)) console.error(error);
}

// Runs one user action at a time, with its errors shown in the page rather than the console.
async function action(statusLine, message, work) {
  if (state.busy) return;
  state.busy = true;
  document.body.classList.add("busy");
  showError(null);
  if (statusLine) statusLine.textContent = message;
  try {
    await work();
  } catch (error) {
    if (statusLine) statusLine.textContent = "";
    showError(error);
  } finally {
    state.busy = false;
    document.body.classList.remove("busy");
  }
}

// ---------------------------------------------------------------------------------- search

function filterParams() {
  const params = new URLSearchParams();
  for (const input of $$("#filters input")) {
    if (input.value.trim() !== "") params.set(input.name, input.value.trim());
  }
  const k = $("#k").value.trim();
  if (k) params.set("k", k);
  return params;
}

function searchText(q) {
  const params = filterParams();
  params.set("q", q);
  history.replaceState(null, "", `?q=${encodeURIComponent(q)}`);
  return action($("#status"), `Searching for “${q}”…`, async () => showResult(await apiJson(`/api/search?${params}`)));
}

function searchAudio(blob, name) {
  const form = new FormData();
  form.append("audio", blob, name);
  const transcript = $("#transcript").value.trim();
  if (transcript) form.append("transcript", transcript);
  return action($("#status"), `Searching by speech (${name})…`, async () =>
    showResult(await apiJson(`/api/search/audio?${filterParams()}`, { method: "POST", body: form })));
}

function searchLike(clipId) {
  const params = filterParams();
  params.set("clip_id", clipId);
  showView("search");
  return action($("#status"), `Searching for speech like the gestures of clip ${clipId}…`, async () =>
    showResult(await apiJson(`/api/search/like?${params}`)));
}

function showResult(doc) {
  state.result = doc;
  const n = doc.hits.length;
  const what = doc.mode === "audio" ? " (speech)" : ""; // a gesture query's text already says what it is
  $("#status").textContent = `${n} hit${n === 1 ? "" : "s"} for “${doc.query}”${what}`;
  $("#notes").replaceChildren(...doc.notes.map((note) => el("li", { text: note })));
  for (const button of $$("#export button")) button.disabled = n === 0;
  const heatQuery = doc.mode === "text" ? doc.query : null;
  $("#hits").replaceChildren(...doc.hits.map((hit) => card(hit, PLAYABLE.test(hit.video_path), heatQuery)));
}

// ------------------------------------------------------------------------------ hit cards

// A card plays its clip with the gesture span marked. Sources browsers cannot decode play as an
// mp4 cut of the clip, whose own clock starts at the cut: `offset` maps it back to the video's.
function card(hit, playable, heatQuery, spokenWords = []) {
  const id = hit.clip_id;
  const t0 = hit.clip_start_s;
  const t1 = Math.min(hit.clip_end_s, t0 + MAX_CUT_S);
  const gestured = Boolean(hit.peaks?.length); // a speech → gesture hit, whose span is where the words peak
  const offset = playable ? 0 : Math.round(t0 * FPS) / FPS; // the server cuts from the frame t0 rounds to
  const video = el("video", {
    controls: true, playsinline: true,
    preload: playable ? "metadata" : "none", // each cut costs an encode: only on demand
    src: mediaUrl(playable ? `/api/media/clip/${id}#t=${hit.span_start_s}` : `/api/media/cut/${id}?start=${t0}&end=${t1}`),
    "aria-label": `clip ${id} of ${fileName(hit.video_path)}`,
    "data-offset": offset, // where the player's clock starts, in seconds of the source video
  });
  const loop = el("input", { type: "checkbox", class: "loop" });
  const status = el("p", { class: "card-status", role: "status" });
  const videoTime = () => video.currentTime + offset;
  const seek = (t) => { video.currentTime = Math.max(0, t - offset); };

  const bar = timeline(hit, t0, t1, spokenWords);
  const playhead = $(".playhead", bar);
  let ticking = false;
  // Animation frames rather than timeupdate (4 Hz): the loop must catch the span end promptly.
  const tick = () => {
    const t = videoTime();
    playhead.style.left = `${(100 * (t - t0)) / (t1 - t0)}%`;
    if (loop.checked && !video.paused && t >= hit.span_end_s) seek(hit.span_start_s);
    ticking = !video.paused;
    if (ticking) requestAnimationFrame(tick);
  };
  video.addEventListener("play", () => { if (!ticking) { ticking = true; requestAnimationFrame(tick); } });
  video.addEventListener("seeked", tick);
  video.addEventListener("ended", () => { // a span that runs to the end of the clip loops from here
    if (!loop.checked) return;
    seek(hit.span_start_s);
    video.play().catch(() => {});
  });
  video.addEventListener("loadedmetadata", () => { if (videoTime() < hit.span_start_s - 0.05) seek(hit.span_start_s); }, { once: true });
  video.addEventListener("error", () => {
    const message = video.error?.code === 4 ? "the browser cannot play this video" : "the video could not be loaded";
    status.textContent = message;
  });
  bar.addEventListener("click", (event) => {
    const box = bar.getBoundingClientRect();
    seek(t0 + ((event.clientX - box.left) / box.width) * (t1 - t0));
  });

  const node = el("article", { class: "card", tabindex: "0", "data-clip-id": id, "aria-label": `hit ${hit.rank ?? ""} clip ${id}` },
    el("div", { class: "player" }, video),
    bar,
    heatQuery ? el("div", { class: "heat", "data-q": heatQuery }) : null,
    el("p", { class: "meta" },
      hit.rank != null ? el("strong", { text: `#${hit.rank}` }) : null,
      hit.score != null ? el("span", { text: `score ${hit.score.toFixed(3)}`, title: scoreTitle(hit) }) : null,
      el("span", { text: `track ${hit.track}` }),
      hit.speaking != null
        ? el("span", { class: "speaking", text: `speaking ${hit.speaking.toFixed(2)}`,
                       title: "how well this person's gestures match the speech, against the others in view (0–1)" })
        : null,
      el("span", { class: "file", text: fileName(hit.video_path), title: hit.video_path }),
      el("span", { text: `${gestured ? "gesture " : ""}${seconds(hit.span_start_s)}–${seconds(hit.span_end_s)}` }),
      el("span", { class: "clip-id", text: `clip ${id}` })),
    hit.merged_clip_ids?.length
      ? el("p", { class: "merged", text: `same moment as ${hit.merged_clip_ids.length} more clip(s): ${seconds(hit.merged_start_s)}–${seconds(hit.merged_end_s)}` })
      : null,
    hit.text ? el("p", { class: "text", text: hit.text }) : null,
    el("div", { class: "actions" },
      el("button", { type: "button", onclick: () => node.playSpan() }, gestured ? "Play gesture" : "Play clip"),
      el("label", {}, loop, " Loop"),
      el("button", { type: "button", onclick: () => searchLike(id) }, "Find speech like these gestures")),
    status);
  node.playSpan = () => {
    const t = videoTime();
    if (!video.paused) return video.pause();
    if (video.ended || t < hit.span_start_s - 0.05 || t >= hit.span_end_s) seek(hit.span_start_s);
    video.play().catch((error) => { status.textContent = `cannot play: ${error.message}`; });
  };
  node.toggleLoop = () => { loop.checked = !loop.checked; };
  if (heatQuery) heatObserver.observe(node);
  return node;
}

function scoreTitle(hit) {
  const coupling = hit.coupling_score == null ? "n/a" : hit.coupling_score.toFixed(3);
  return `pooled ${hit.pooled_score?.toFixed(3)} · word coupling ${coupling}`;
}

// The clip's time range as a bar: the gesture span shaded, a marker per word peak (query words)
// or per spoken word (browse), and a playhead.
function timeline(hit, t0, t1, spokenWords) {
  const at = (t) => `${Math.min(100, Math.max(0, (100 * (t - t0)) / (t1 - t0)))}%`;
  const edge = (t) => ((t - t0) / (t1 - t0) < 0.12 ? "start" : (t - t0) / (t1 - t0) > 0.88 ? "end" : ""); // keep labels inside
  const peaks = hit.peaks ?? [];
  const label = peaks.length
    ? `gesture ${seconds(hit.span_start_s)} to ${seconds(hit.span_end_s)}; ` + peaks.map((p) => `${p.word} peaks at ${seconds(p.time_s)}`).join(", ")
    : `clip ${seconds(t0)} to ${seconds(t1)}`;
  const bar = el("div", { class: "timeline", role: "img", "aria-label": label },
    el("div", { class: "span", style: `left:${at(hit.span_start_s)};right:calc(100% - ${at(hit.span_end_s)})` }),
    ...spokenWords.map((w) => el("div", { class: "word", style: `left:${at(w.start_frame / FPS)}`, title: w.word })),
    ...peaks.map((p) => el("div", {
      class: `peak ${edge(p.time_s)}`, style: `left:${at(p.time_s)};opacity:${0.4 + 0.6 * p.strength}`,
      title: `${p.word}: ${seconds(p.time_s)}, strength ${p.strength.toFixed(2)}, cosine ${p.cosine.toFixed(2)}`,
    }, el("span", { text: p.word }))),
    el("div", { class: "playhead" }));
  const scale = el("div", { class: "scale" }, el("span", { text: seconds(t0) }), el("span", { text: seconds(t1) }));
  return el("div", { class: "timeline-wrap" }, bar, scale);
}

// Score maps come from /api/clips/{id}?q= one card at a time, as cards scroll into view:
// each is a model call on the server, which serves one at a time anyway.
const heatQueue = [];
let heatRunning = false;
const heatObserver = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    heatObserver.unobserve(entry.target);
    heatQueue.push(entry.target);
  }
  drainHeat();
});

async function drainHeat() {
  if (heatRunning) return;
  heatRunning = true;
  while (heatQueue.length) {
    const node = heatQueue.shift();
    const box = $(".heat", node);
    if (!node.isConnected || !box) continue;
    try {
      const detail = await apiJson(`/api/clips/${node.dataset.clipId}?q=${encodeURIComponent(box.dataset.q)}`);
      drawHeat(box, detail.query_words, detail.score_map);
    } catch {
      box.remove(); // the timeline already shows the peaks; a missing map is not worth an error line
    }
  }
  heatRunning = false;
}

function drawHeat(box, words, rows) {
  if (!rows.length || !rows[0].length) return box.remove();
  const canvas = el("canvas", { width: rows[0].length, height: rows.length, "aria-hidden": "true" });
  const context = canvas.getContext("2d");
  const image = context.createImageData(canvas.width, canvas.height);
  rows.forEach((row, y) => row.forEach((value, x) => {
    const [r, g, b] = ramp(value);
    image.data.set([r, g, b, 255], 4 * (y * canvas.width + x));
  }));
  context.putImageData(image, 0, 0);
  canvas.style.height = `${rows.length * 12}px`;
  const labels = el("div", { class: "heat-labels" }, ...words.map((w) => el("span", { "data-word": w })));
  box.replaceChildren(canvas, labels);
  box.setAttribute("title", "word spotting score over the clip, one row per query word");
}

function ramp(value) { // pale to deep blue: readable on both themes, monotone in lightness
  const stops = [[240, 244, 250], [107, 174, 214], [8, 48, 107]];
  const v = Math.min(1, Math.max(0, value)) * 2;
  const [a, b] = v < 1 ? [stops[0], stops[1]] : [stops[1], stops[2]];
  const f = v < 1 ? v : v - 1;
  return a.map((c, i) => Math.round(c + (b[i] - c) * f));
}

// ---------------------------------------------------------------------------------- export

async function exportAs(format) {
  if (!state.result) return;
  await action($("#status"), `Exporting ${state.result.hits.length} hits as ${format}…`, async () => {
    const response = await api(`/api/export?format=${format}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(state.result),
    });
    const name = /filename="?([^";]+)"?/.exec(response.headers.get("Content-Disposition") || "")?.[1] || `gestsearch.${format}`;
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000); // the download has to start reading it first
    $("#status").textContent = `Exported ${name}`;
  });
}

// ------------------------------------------------------------------------------ recording

function setupRecorder() {
  const button = $("#record");
  if (!navigator.mediaDevices?.getUserMedia || !window.MediaRecorder) return; // e.g. plain http off localhost
  button.hidden = false;
  let recorder = null;
  let timer = null;
  button.addEventListener("click", async () => {
    if (recorder) return recorder.stop();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      return showError(new ApiError(`no microphone: ${error.message}`));
    }
    const type = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg", "audio/mp4"].find((t) => MediaRecorder.isTypeSupported(t));
    recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    const chunks = [];
    const started = Date.now();
    recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
    recorder.addEventListener("stop", () => {
      clearInterval(timer);
      stream.getTracks().forEach((track) => track.stop());
      const mime = recorder.mimeType || type || "audio/webm";
      recorder = null;
      button.textContent = "Record";
      button.setAttribute("aria-pressed", "false");
      const suffix = mime.includes("ogg") ? "ogg" : mime.includes("mp4") ? "m4a" : "webm";
      searchAudio(new Blob(chunks, { type: mime }), `recording.${suffix}`);
    });
    recorder.start();
    button.setAttribute("aria-pressed", "true");
    timer = setInterval(() => {
      const elapsed = (Date.now() - started) / 1000;
      button.textContent = `Stop (${Math.floor(elapsed)} s)`;
      if (elapsed >= MAX_RECORD_S) recorder?.stop();
    }, 250);
    button.textContent = "Stop (0 s)";
  });
}

// ---------------------------------------------------------------------------------- browse

function listVideos(offset = 0) {
  const params = new URLSearchParams({ offset, limit: PAGE });
  const path = $("#browse-path").value.trim();
  if (path) params.set("path", path);
  return action($("#browse-status"), "Listing videos…", async () => {
    const page = await apiJson(`/api/videos?${params}`);
    state.browseOffset = page.offset;
    const last = page.offset + page.videos.length;
    $("#browse-status").textContent = page.total
      ? `Videos ${page.offset + 1}–${last} of ${page.total}`
      : "No indexed videos match.";
    $("#prev").disabled = page.offset === 0;
    $("#next").disabled = last >= page.total;
    $("#videos").replaceChildren(...page.videos.map(videoItem));
  });
}

function videoItem(video) {
  const details = `${seconds(video.duration_s)} · ${video.n_tracks} track${video.n_tracks === 1 ? "" : "s"} · indexed ${video.indexed_at.slice(0, 10)}`;
  return el("li", { class: "video" },
    el("h3", { text: fileName(video.path), title: video.path }),
    el("p", { class: "muted", text: details }),
    el("ul", { class: "clips" }, ...video.clips.map((clip) => el("li", {},
      el("button", { type: "button", class: "clip", onclick: () => openClip(clip, video.playable) },
        el("span", { class: "clip-time", text: `track ${clip.track} · ${seconds(clip.start_s)}–${seconds(clip.end_s)}` }),
        el("span", { class: "clip-text", text: clip.text || "(no transcript)" }))))));
}

function openClip(clip, playable) {
  const asHit = {
    clip_id: clip.clip_id, video_path: clip.video_path, track: clip.track, text: clip.text,
    clip_start_s: clip.start_s, clip_end_s: clip.end_s, span_start_s: clip.start_s, span_end_s: clip.end_s, peaks: [],
  };
  const node = card(asHit, playable, null, clip.words);
  $("#browse-player").replaceChildren(node);
  node.scrollIntoView({ block: "nearest", behavior: "smooth" });
  node.focus({ preventScroll: true });
  node.playSpan();
}

// ------------------------------------------------------------------------------- keyboard

function visibleCards() {
  return $$(".card").filter((node) => node.offsetParent !== null);
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  const typing = target.closest?.("textarea, select, [contenteditable], input:not([type=checkbox], [type=radio], [type=file])");
  if (typing) {
    if (event.key === "Escape") target.blur();
    return;
  }
  if (event.key === "/") {
    event.preventDefault();
    showView("search");
    $("#q").focus();
    $("#q").select();
    return;
  }
  const cards = visibleCards();
  const current = cards.indexOf(target.closest?.(".card"));
  const move = { j: 1, ArrowDown: 1, ArrowRight: 1, k: -1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
  // Arrows belong to the video's own controls (seeking, volume) while it has focus.
  if (move && !(target.tagName === "VIDEO" && event.key.startsWith("Arrow")) && cards.length) {
    event.preventDefault();
    const next = cards[Math.min(cards.length - 1, Math.max(0, current < 0 ? 0 : current + move))];
    next.focus({ preventScroll: true });
    next.scrollIntoView({ block: "nearest" });
    return;
  }
  if (current < 0) return;
  if ((event.key === "Enter" || event.key === " ") && target.classList.contains("card")) {
    event.preventDefault();
    cards[current].playSpan();
  } else if (event.key === "l") {
    cards[current].toggleLoop();
  }
}

// ----------------------------------------------------------------------------------- setup

function showView(name) {
  for (const tab of $$(".tab")) tab.setAttribute("aria-pressed", String(tab.dataset.view === name));
  $("#view-search").hidden = name !== "search";
  $("#view-browse").hidden = name !== "browse";
  if (name === "browse" && !$("#videos").children.length && !state.busy) listVideos(0);
}

async function showInfo() {
  try {
    const info = await apiJson("/api/info");
    $("#info").textContent = `${info.videos_indexed} videos · ${info.clips} clips · ${info.model}`;
  } catch (error) {
    showError(error);
  }
}

function start() {
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = $("#q").value.trim();
    if (q) searchText(q);
  });
  $("#audio-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const file = $("#audio-file").files[0];
    if (!file) return showError(new ApiError("choose an audio file first"));
    searchAudio(file, file.name);
  });
  $("#browse-form").addEventListener("submit", (event) => {
    event.preventDefault();
    listVideos(0);
  });
  $("#prev").addEventListener("click", () => listVideos(Math.max(0, state.browseOffset - PAGE)));
  $("#next").addEventListener("click", () => listVideos(state.browseOffset + PAGE));
  for (const tab of $$(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  for (const button of $$("#export button")) button.addEventListener("click", () => exportAs(button.dataset.format));
  document.addEventListener("keydown", onKey);
  setupRecorder();

  const params = new URLSearchParams(location.search);
  if (params.has("token")) { // a link with ?token= logs in once; the URL is cleaned so it is not shared
    setToken(params.get("token"));
    params.delete("token");
    history.replaceState(null, "", params.size ? `?${params}` : location.pathname);
  }
  showInfo().then(() => {
    const q = params.get("q");
    if (q) {
      $("#q").value = q;
      searchText(q);
    }
  });
}

start();
