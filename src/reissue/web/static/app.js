// The page: library list and upload, track view, render form with progress, A/B player, panels.
// Plain ES modules against the JSON API (see /docs); no build step.

import { ABPlayer } from "./player.js";
import { TimeMap } from "./timemap.js";
import * as charts from "./charts.js";

const $ = id => document.getElementById(id);
const esc = charts.esc;

const state = {
  tracks: [], total: 0, query: "", styles: [], track: null, version: null,
  uploads: new Map(), follows: new Map(), peaks: null, routeToken: 0,
};
const player = new ABPlayer();
window.reissuePlayer = player;           // the browser tests read positions through this

// ------------------------------------------------------------------ API

async function api(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(url, init);
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(data.detail || `${method} ${url}: HTTP ${r.status}`);
    err.status = r.status;
    err.code = data.code;
    throw err;
  }
  return data;
}

function reportError(err) {
  toast(err && err.message ? err.message : String(err), "error", 8000);
}

function toast(message, kind = "info", ms = 4500) {
  const el = $("toast");
  el.textContent = message;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, ms);
}

/** Follow a job's server-sent events; resolves with the final job. */
function follow(job, onUpdate) {
  if (job.state === "done" || job.state === "failed") {
    onUpdate(job);
    return Promise.resolve(job);
  }
  if (state.follows.has(job.id)) return state.follows.get(job.id).promise;
  let source;
  const promise = new Promise(resolve => {
    source = new EventSource(job.events_url);
    const handle = e => {
      const data = JSON.parse(e.data);
      onUpdate(data);
      if (e.type !== "progress") {
        source.close();
        state.follows.delete(job.id);
        resolve(data);
      }
    };
    for (const type of ["progress", "done", "failed"]) source.addEventListener(type, handle);
  });
  state.follows.set(job.id, { promise, source });
  return promise;
}

// ------------------------------------------------------------------ library list

const fmtDuration = s => charts.fmtTime(s).replace(/\.\d$/, "");
const hue = text => [...String(text)].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
const initials = title => (String(title).match(/\b\w/g) || ["?"]).slice(0, 2).join("").toUpperCase();

function renderTrackList() {
  const list = $("track-list");
  const active = state.track ? state.track.id : null;
  const uploads = [...state.uploads.values()].map(u => `
    <li class="track-item uploading">
      <span class="track-art" style="background:#a5a8d6">↑</span>
      <span><div class="track-name">${esc(u.name)}</div>
        <div class="track-meta">uploading… ${Math.round(u.progress * 100)} %</div>
        <div class="bar"><span style="width:${u.progress * 100}%"></span></div></span></li>`);
  const items = state.tracks.map(t => {
    const meta = [fmtDuration(t.duration_seconds), t.tempo_bpm ? `${Math.round(t.tempo_bpm)} BPM` : null,
                  t.key, t.versions ? `${t.versions} version${t.versions > 1 ? "s" : ""}` : null]
      .filter(Boolean).join(" · ");
    return `<li class="track-item${t.id === active ? " active" : ""}" data-id="${t.id}" tabindex="0">
      <span class="track-art" style="background:hsl(${hue(t.sha256)} 55% 45%)">${esc(initials(t.title))}</span>
      <span style="min-width:0"><div class="track-name" title="${esc(t.title)}">${esc(t.title)}</div>
      <div class="track-meta">${esc(meta)}</div></span></li>`;
  });
  list.innerHTML = uploads.join("") + items.join("");
  $("track-count").textContent = state.total ? String(state.total) : "";
  $("empty-state").hidden = !!state.track;
}

async function loadTracks() {
  const q = state.query ? `?q=${encodeURIComponent(state.query)}` : "";
  const data = await api("GET", `/api/tracks${q}`);
  state.tracks = data.items;
  state.total = data.total;
  renderTrackList();
  renderReferenceOptions();
}

// ------------------------------------------------------------------ upload

function upload(file) {
  const key = `${file.name}-${Date.now()}-${Math.random()}`;
  state.uploads.set(key, { name: file.name, progress: 0 });
  renderTrackList();
  const form = new FormData();
  form.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/tracks");
  xhr.upload.onprogress = e => {
    if (e.lengthComputable) {
      state.uploads.get(key).progress = e.loaded / e.total;
      renderTrackList();
    }
  };
  xhr.onloadend = async () => {
    state.uploads.delete(key);
    let data = {};
    try { data = JSON.parse(xhr.responseText || "{}"); } catch { /* not JSON */ }
    if (xhr.status === 201 || xhr.status === 200) {
      toast(xhr.status === 201 ? `Added “${data.title}” — analysing…` : `“${data.title}” is already in the library`);
      location.hash = `#/track/${data.id}`;
      await loadTracks().catch(reportError);
    } else {
      renderTrackList();
      toast(data.detail || `Upload failed (HTTP ${xhr.status || "network error"})`, "error", 8000);
    }
  };
  xhr.send(form);
}

function setupUpload() {
  $("file-input").addEventListener("change", e => {
    for (const f of e.target.files) upload(f);
    e.target.value = "";
  });
  const zone = $("dropzone");
  zone.addEventListener("click", () => $("file-input").click());
  zone.addEventListener("keydown", e => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file-input").click(); } });
  let depth = 0;
  window.addEventListener("dragenter", e => { if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) { depth++; document.body.classList.add("dragging"); } });
  window.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) document.body.classList.remove("dragging"); });
  window.addEventListener("dragover", e => e.preventDefault());
  window.addEventListener("drop", e => {
    e.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    for (const f of e.dataTransfer.files) upload(f);
  });
}

// ------------------------------------------------------------------ track view

function chip(label, value) {
  return `<span class="chip">${esc(label)} <b>${esc(value)}</b></span>`;
}

function renderTrackHead() {
  const t = state.track;
  $("track-title").textContent = t.title;
  const a = t.analysis || {};
  const chips = [chip("length", fmtDuration(t.duration_seconds))];
  if (a.rhythm) chips.push(chip("tempo", `${a.rhythm.tempo_bpm.toFixed(1)} BPM`), chip("meter", a.rhythm.meter));
  if (a.tonal && a.tonal.key) chips.push(chip("key", a.tonal.key));
  if (a.sound) chips.push(chip("loudness", `${a.sound.integrated_lufs.toFixed(1)} LUFS`));
  if (a.era) chips.push(chip("sounds like", `${a.era.decade}s`));
  if (a.mood) chips.push(chip("mood", a.mood.quadrant || `${a.mood.valence.toFixed(2)}/${a.mood.arousal.toFixed(2)}`));
  chips.push(chip("file", `${t.format.toUpperCase()} · ${(t.sample_rate / 1000).toFixed(1)} kHz · ${t.channels} ch`));
  $("track-chips").innerHTML = chips.join("");
  const status = $("analysis-status");
  const job = t.analysis_job;
  if (t.analysis) {
    status.hidden = true;
  } else if (job && job.state === "failed") {
    status.hidden = false;
    status.className = "notice error";
    status.textContent = `Analysis failed: ${job.message}`;
  } else {
    status.hidden = false;
    status.className = "notice";
    status.textContent = "Analysing tempo, beats, key, chords, melody and sections…";
    if (job) {
      follow(job, j => {
        if (state.track && state.track.id === t.id && j.state === "running") {
          status.textContent = `Analysing… ${j.message || j.stage}`;
        }
      }).then(async () => {
        if (state.track && state.track.id === t.id) {
          await refreshTrack();
          await loadTracks();
        }
      }).catch(reportError);
    }
  }
}

function renderVersionList() {
  const t = state.track;
  const list = $("version-list");
  const versions = t.version_list || [];
  $("no-versions").hidden = versions.length > 0;
  list.innerHTML = versions.map(v => {
    const active = state.version && state.version.id === v.id;
    const status = v.status === "done" ? ""
      : `<span class="status ${v.status}">${v.status === "failed" ? "failed" : v.status === "running" ? `rendering ${Math.round((v.job?.progress ?? 0) * 100)} %` : "queued"}</span>`;
    const scores = v.status === "done" ? `<span class="version-scores">identity <b>${v.identity?.toFixed(2) ?? "–"}</b> modernity <b>${v.modernity?.toFixed(2) ?? "–"}</b></span>` : status;
    return `<li class="version${active ? " active" : ""}" data-id="${v.id}" tabindex="0">
      <span class="version-title">${esc(v.style)}</span>
      <button class="remove" type="button" data-remove="${v.id}" title="Delete this version" aria-label="Delete version">×</button>
      <span class="version-params">intensity ${v.intensity.toFixed(2)} · seed ${v.seed}${v.reference_track_id ? " · reference" : ""}${v.stems ? " · stems" : ""}</span>
      ${scores}</li>`;
  }).join("");
}

function renderReferenceOptions() {
  const select = $("reference");
  const current = select.value;
  const own = state.track ? state.track.id : null;
  select.innerHTML = `<option value="">Style's target balance</option>` + state.tracks
    .filter(t => t.id !== own).map(t => `<option value="${t.id}">${esc(t.title)}</option>`).join("");
  select.value = [...select.options].some(o => o.value === current) ? current : "";
}

async function refreshTrack() {
  if (!state.track) return;
  state.track = await api("GET", `/api/tracks/${state.track.id}`);
  renderTrackHead();
  renderVersionList();
}

async function showTrack(id, versionId) {
  const token = ++state.routeToken;
  let track;
  try {
    track = await api("GET", `/api/tracks/${id}`);
  } catch (err) {
    toast(err.message, "error");
    location.hash = "#/";
    return;
  }
  if (token !== state.routeToken) return;
  const changed = !state.track || state.track.id !== track.id;
  state.track = track;
  $("track-view").hidden = false;
  renderTrackList();
  renderTrackHead();
  renderReferenceOptions();
  if (changed) {
    $("library").classList.add("collapsed");
    $("library-toggle").setAttribute("aria-expanded", "false");
    state.version = null;
    player.stop();
    $("player-card").hidden = true;
    $("panels").hidden = true;
    $("render-progress").hidden = true;
    $("render-error").hidden = true;
  }
  renderVersionList();
  const versions = track.version_list || [];
  const pick = versionId ? versions.find(v => v.id === versionId)
    : versions.find(v => v.status === "done") || versions[0];
  if (pick) await showVersion(pick.id, token);
  for (const v of versions) if (v.status === "queued" || v.status === "running") watchRender(v);
}

function watchRender(v) {
  if (!v.job) return;
  follow(v.job, job => {
    if (state.version && state.version.id === v.id) showProgress(job);
    const entry = state.track && (state.track.version_list || []).find(x => x.id === v.id);
    if (entry) { entry.job = job; entry.status = job.state === "done" ? "done" : job.state; renderVersionList(); }
  }).then(async job => {
    if (!state.track || state.track.id !== v.track_id) return;
    await refreshTrack();
    await loadTracks();
    if (job.state === "done" && (!state.version || state.version.id === v.id)) {
      location.hash = `#/track/${v.track_id}/version/${v.id}`;
      await showVersion(v.id, state.routeToken, true);
    }
  }).catch(reportError);
}

function showProgress(job) {
  const box = $("render-progress");
  box.hidden = job.state === "done";
  $("progress-fill").style.width = `${Math.round(job.progress * 100)}%`;
  $("progress-pct").textContent = `${Math.round(job.progress * 100)} %`;
  $("progress-stage").textContent = job.state === "queued" ? "waiting for a free worker…"
    : job.state === "failed" ? "failed" : `${job.stage || "starting"}…`;
  const error = $("render-error");
  error.hidden = job.state !== "failed";
  if (job.state === "failed") error.textContent = job.message;
}

async function showVersion(id, token = state.routeToken, force = false) {
  if (!force && state.version && state.version.id === id && state.version.status === "done") return;
  const v = await api("GET", `/api/versions/${id}`);
  if (token !== state.routeToken) return;
  state.version = v;
  renderVersionList();
  if (v.status !== "done") {
    $("player-card").hidden = true;
    $("panels").hidden = true;
    if (v.job) showProgress(v.job);
    if (v.status === "failed") { $("render-error").hidden = false; $("render-error").textContent = v.error || "failed"; }
    return;
  }
  $("render-progress").hidden = true;
  $("render-error").hidden = true;
  await loadPlayer(v);
  renderPanels(v);
}

// ------------------------------------------------------------------ player

function musicalPosition(seconds) {
  const a = state.track && state.track.analysis;
  if (!a || !a.rhythm) return "";
  const beats = a.rhythm.beats_seconds, downs = a.rhythm.downbeats_seconds;
  if (!beats.length) return "";
  let bar = 0;
  while (bar < downs.length && downs[bar] <= seconds + 1e-6) bar++;
  if (bar === 0) return "pickup";
  let beat = 0;
  for (const b of beats) if (b >= downs[bar - 1] - 1e-6 && b <= seconds + 1e-6) beat++;
  return `bar ${bar} · beat ${Math.max(1, beat)}`;
}

async function loadPlayer(v) {
  const card = $("player-card");
  card.hidden = false;
  $("player-loading").hidden = false;
  $("player-loading").textContent = "Loading both versions…";
  $("play").disabled = true;
  const report = v.report || {};
  const map = new TimeMap(v.time_map && v.time_map.length >= 2 ? v.time_map
    : [[0, 0], [state.track.duration_seconds, state.track.duration_seconds]]);
  const loudness = { original: report.original?.integrated_lufs, reissue: report.result?.integrated_lufs };
  $("player-version-label").innerHTML = `<b>${esc(v.style)}</b> · intensity ${v.intensity.toFixed(2)} · seed ${v.seed}` +
    (report.result?.tempo_bpm && report.original?.tempo_bpm && Math.abs(report.result.tempo_bpm - report.original.tempo_bpm) > 0.05
      ? ` · ${report.original.tempo_bpm.toFixed(1)} → ${report.result.tempo_bpm.toFixed(1)} BPM` : "");
  try {
    const ok = await player.load({ original: state.track.audio_url, reissue: v.urls.audio }, map, loudness);
    if (!ok) return;
  } catch (err) {
    $("player-loading").textContent = `Could not load the audio: ${err.message}`;
    return;
  }
  $("player-loading").hidden = true;
  $("play").disabled = false;
  updateLevelNote();
  state.peaks = null;
  drawPlayer();
}

function timelineData() {
  const a = (state.track && state.track.analysis) || {};
  const map = player.timeMap;
  const origDur = player.duration("original") || state.track.duration_seconds;
  const newDur = player.duration("reissue");
  const duration = Math.max(origDur, map && newDur ? map.toOriginal(newDur) : 0);
  const canvas = $("timeline");
  const columns = Math.max(50, Math.round(canvas.clientWidth));
  if (!state.peaks || state.peaks.columns !== columns || state.peaks.version !== state.version.id) {
    state.peaks = {
      columns, version: state.version.id,
      original: charts.peaks(player.buffers.original, columns, duration, t => t),
      reissue: charts.peaks(player.buffers.reissue, columns, duration, t => map.toNew(t)),
    };
  }
  const pos = player.position();
  return {
    duration, peaks: state.peaks, current: player.current, position: pos.originalSeconds,
    beats: a.rhythm?.beats_seconds, downbeats: a.rhythm?.downbeats_seconds,
    sections: a.form?.sections, chords: a.tonal?.chords,
  };
}

function drawPlayer() {
  if (!player.ready || $("player-card").hidden) return;
  const pos = player.position();
  charts.drawTimeline($("timeline"), timelineData());
  $("clock-time").textContent = charts.fmtTime(Math.max(0, pos.seconds));
  $("clock-beat").textContent = musicalPosition(pos.originalSeconds);
  $("play").classList.toggle("playing", pos.playing);
  $("play").setAttribute("aria-label", pos.playing ? "Pause" : "Play");
  for (const v of ["original", "reissue"]) {
    $(`ab-${v}`).setAttribute("aria-pressed", String(player.current === v));
  }
}

function animate() {
  if (player.playing) drawPlayer();
  requestAnimationFrame(animate);
}

function updateLevelNote() {
  const g = player.gains();
  const db = v => (20 * Math.log10(g[v])).toFixed(1);
  $("level-note").textContent = !player.levelMatch ? "" :
    g.original < 1 ? `original ${db("original")} dB` : g.reissue < 1 ? `reissue ${db("reissue")} dB` : "already matched";
}

function setupPlayer() {
  $("play").addEventListener("click", () => player.playPause());
  $("toggle").addEventListener("click", () => player.toggle());
  for (const v of ["original", "reissue"]) $(`ab-${v}`).addEventListener("click", () => player.toggle(v));
  $("level-match").addEventListener("change", e => { player.setLevelMatch(e.target.checked); updateLevelNote(); });
  player.on(() => drawPlayer());
  $("timeline").addEventListener("click", e => {
    if (!player.ready) return;
    const rect = e.currentTarget.getBoundingClientRect();
    const d = timelineData();
    player.seek(((e.clientX - rect.left) / rect.width) * d.duration, "original");
  });
  window.addEventListener("keydown", e => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = (e.target && e.target.tagName) || "";
    if (["INPUT", "SELECT", "TEXTAREA"].includes(tag) && e.target.type !== "range" && e.target.type !== "checkbox") return;
    if (e.key === "t" || e.key === "T") { e.preventDefault(); player.toggle(); }
    else if (e.key === " " && tag !== "BUTTON") { e.preventDefault(); player.playPause(); }
  });
  let resize;
  window.addEventListener("resize", () => { clearTimeout(resize); resize = setTimeout(() => { state.peaks = null; drawPlayer(); }, 120); });
  requestAnimationFrame(animate);
}

// ------------------------------------------------------------------ panels

function renderPanels(v) {
  const r = v.report || {};
  const a = state.track.analysis || {};
  const map = player.timeMap || new TimeMap([[0, 0], [1, 1]]);
  $("panels").hidden = false;
  const target = v.style_target || {};
  charts.loudnessChart($("chart-loudness"), {
    original: a.sound?.short_term_lufs || [], hopOriginal: a.sound?.short_term_hop_seconds || 1,
    reissue: v.sound?.short_term_lufs || [], hopReissue: v.sound?.short_term_hop_seconds || 1,
    toOriginal: t => map.toOriginal(t), duration: state.track.duration_seconds,
    target: target.loudness_lufs,
  });
  charts.spectrumChart($("chart-spectrum"), {
    original: r.original?.band_levels_db || a.sound?.band_levels_db,
    reissue: r.result?.band_levels_db || v.sound?.band_levels_db,
    target: v.reference_track_id ? null : target.curve_db,
  });
  charts.widthChart($("chart-width"), { original: r.original || {}, reissue: r.result || {} });
  const id = r.identity || {};
  const details = id.details || {};
  charts.scoreCard($("chart-identity"), {
    score: id.score, components: id.components,
    note: details.transposition_semitones ? `best match ${details.transposition_semitones > 0 ? "+" : ""}${details.transposition_semitones} semitones` : "1 = every chord, melody note and section kept",
  });
  const m = r.modernity || {};
  charts.scoreCard($("chart-modernity"), {
    score: m.score, components: m.components, originalScore: m.original_score,
    originalComponents: m.original_components,
    note: `<span><i style="background:#d97706"></i>original</span><span><i style="background:#4338ca"></i>reissue</span>`,
  });
  charts.costCard($("chart-cost"), r.cost || {}, r.cost?.audio_seconds || state.track.duration_seconds);
  const u = v.urls || {};
  const title = state.track.title;
  const rows = [
    `<a class="dl" href="${u.audio}?download=true" download>Reissue audio <small>FLAC</small></a>`,
    u.midi ? `<a class="dl" href="${u.midi}" download>New parts <small>MIDI</small></a>` : "",
    `<a class="dl" href="${u.report}" download>Report <small>JSON</small></a>`,
    `<a class="dl" href="${state.track.audio_url}?download=true" download>Original <small>${esc(state.track.format.toUpperCase())}</small></a>`,
  ];
  if (u.stems) {
    rows.push(`<div class="stems-row">${Object.entries(u.stems).map(([name, href]) =>
      `<a href="${href}" download>${esc(name)}</a>`).join("")}</div>`);
  }
  $("downloads").innerHTML = rows.join("");
  $("downloads").setAttribute("aria-label", `Downloads for ${title}`);
}

// ------------------------------------------------------------------ render form

function renderStyles() {
  const box = $("style-options");
  box.innerHTML = state.styles.map((s, i) => `
    <label class="style-pill" title="${esc(s.description)}">
      <input type="radio" name="style" value="${esc(s.name)}" ${i === 0 ? "checked" : ""}>
      <span>${esc(s.name)}</span>
    </label>`).join("");
  const describe = () => {
    const name = (box.querySelector("input:checked") || {}).value;
    const style = state.styles.find(s => s.name === name);
    const tempo = style && style.tempo && style.tempo.policy === "range" && style.tempo.range_bpm
      ? ` Tempo ${style.tempo.range_bpm[0]}–${style.tempo.range_bpm[1]} BPM.` : "";
    $("style-description").textContent = style ? style.description + tempo : "";
  };
  box.addEventListener("change", describe);
  describe();
}

function setupForm() {
  const intensity = $("intensity");
  const show = () => { $("intensity-value").textContent = Number(intensity.value).toFixed(2); };
  intensity.addEventListener("input", show);
  show();
  $("dice").addEventListener("click", () => { $("seed").value = String(Math.floor(Math.random() * 100000)); });
  $("render-form").addEventListener("submit", async e => {
    e.preventDefault();
    if (!state.track) return;
    const style = (document.querySelector('input[name="style"]:checked') || {}).value || "auto";
    const body = {
      style, intensity: Number(intensity.value), seed: Number($("seed").value || 0),
      reference_track_id: $("reference").value ? Number($("reference").value) : null,
      stems: $("stems").checked,
    };
    $("render").disabled = true;
    $("render-error").hidden = true;
    try {
      const res = await api("POST", `/api/tracks/${state.track.id}/versions`, body);
      await refreshTrack();
      state.version = { ...res.version };
      renderVersionList();
      if (res.version.status === "done") {
        location.hash = `#/track/${state.track.id}/version/${res.version.id}`;
        toast("This exact version already exists — showing it.");
      } else {
        $("player-card").hidden = true;
        $("panels").hidden = true;
        showProgress(res.job);
        watchRender({ ...res.version, job: res.job });
      }
    } catch (err) {
      $("render-error").hidden = false;
      $("render-error").textContent = err.message;
    } finally {
      $("render").disabled = false;
    }
  });
}

// ------------------------------------------------------------------ routing and wiring

function route() {
  const m = location.hash.match(/^#\/track\/(\d+)(?:\/version\/(\d+))?/);
  if (!m) {
    state.track = null;
    state.version = null;
    $("library").classList.remove("collapsed");
    player.stop();
    $("track-view").hidden = true;
    renderTrackList();
    return;
  }
  showTrack(Number(m[1]), m[2] ? Number(m[2]) : null).catch(reportError);
}

function setupLibraryToggle() {
  const lib = $("library");
  $("library-toggle").addEventListener("click", () => {
    const collapsed = lib.classList.toggle("collapsed");
    $("library-toggle").setAttribute("aria-expanded", String(!collapsed));
  });
}

function setupLists() {
  $("track-list").addEventListener("click", e => {
    const li = e.target.closest(".track-item[data-id]");
    if (li) location.hash = `#/track/${li.dataset.id}`;
  });
  $("track-list").addEventListener("keydown", e => {
    const li = e.target.closest(".track-item[data-id]");
    if (li && e.key === "Enter") location.hash = `#/track/${li.dataset.id}`;
  });
  $("version-list").addEventListener("click", async e => {
    const remove = e.target.closest("[data-remove]");
    if (remove) {
      e.stopPropagation();
      const id = Number(remove.dataset.remove);
      if (!confirm("Delete this version? Its audio, stems and report go; the original stays.")) return;
      try {
        await api("DELETE", `/api/versions/${id}`);
        if (state.version && state.version.id === id) {
          state.version = null;
          player.stop();
          $("player-card").hidden = true;
          $("panels").hidden = true;
          location.hash = `#/track/${state.track.id}`;
        }
        await refreshTrack();
        await loadTracks();
      } catch (err) { toast(err.message, "error"); }
      return;
    }
    const li = e.target.closest(".version[data-id]");
    if (li) location.hash = `#/track/${state.track.id}/version/${li.dataset.id}`;
  });
  $("delete-track").addEventListener("click", async () => {
    const t = state.track;
    const n = (t.version_list || []).length;
    if (!confirm(`Delete “${t.title}” from the library${n ? ` and its ${n} version${n > 1 ? "s" : ""}` : ""}? Your own copy of the file is not touched.`)) return;
    try {
      await api("DELETE", `/api/tracks/${t.id}?confirm=true`);
      location.hash = "#/";
      await loadTracks();
    } catch (err) { toast(err.message, "error"); }
  });
  let timer;
  $("search").addEventListener("input", e => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.query = e.target.value.trim(); loadTracks().catch(reportError); }, 200);
  });
}

async function main() {
  setupUpload();
  setupPlayer();
  setupForm();
  setupLists();
  setupLibraryToggle();
  try {
    const [styles, health] = await Promise.all([api("GET", "/api/styles"), api("GET", "/api/health")]);
    state.styles = styles;
    renderStyles();
    $("upload-limit").textContent = `${Math.round(health.max_upload_bytes / 1048576)} MB`;
    await loadTracks();
  } catch (err) {
    toast(`Cannot reach the reissue server: ${err.message}`, "error", 10000);
  }
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "true";
}

main();
