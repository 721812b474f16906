// Drawing: the timeline (canvas) and the before/after panels (inline SVG). No dependencies.

const ORIG = "#d97706";
const NEW = "#4338ca";
const INK = "#4a5068";
const GRID = "#e8eaf1";
const SECTION_COLOURS = ["#c7d2fe", "#fde68a", "#bbf7d0", "#fbcfe8", "#bae6fd", "#ddd6fe", "#fed7aa"];

export const fmtTime = s => {
  if (!Number.isFinite(s)) return "–";
  const sign = s < 0 ? "-" : "";
  s = Math.abs(s);
  const m = Math.floor(s / 60);
  return `${sign}${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
};

const esc = s => String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                       '"': "&quot;", "'": "&#39;" }[c]));

/** Peak envelope (max |x| of the channel mean) of `buffer` for `columns` spans of original time. */
export function peaks(buffer, columns, duration, toVersionTime) {
  const out = new Float32Array(columns);
  if (!buffer) return out;
  const rate = buffer.sampleRate;
  const chans = [];
  for (let c = 0; c < buffer.numberOfChannels; c++) chans.push(buffer.getChannelData(c));
  const n = chans[0].length;
  const scale = 1 / chans.length;
  for (let x = 0; x < columns; x++) {
    const a = toVersionTime((x / columns) * duration);
    const b = toVersionTime(((x + 1) / columns) * duration);
    let i0 = Math.max(0, Math.floor(a * rate)), i1 = Math.min(n, Math.ceil(b * rate));
    let peak = 0;
    const step = Math.max(1, Math.floor((i1 - i0) / 600));   // ≤ 600 reads per column
    for (let i = i0; i < i1; i += step) {
      let v = 0;
      for (const ch of chans) v += ch[i];
      v = Math.abs(v * scale);
      if (v > peak) peak = v;
    }
    out[x] = peak;
  }
  return out;
}

/**
 * The timeline, in original seconds: sections, both waveforms (the reissue's warped through the
 * time map so beats line up), beats and bars, chords and the playhead.
 */
export function drawTimeline(canvas, d) {
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth, cssH = canvas.clientHeight;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  const W = cssW, dur = d.duration || 1;
  const X = t => (t / dur) * W;
  const lanes = { sec: [2, 20], orig: [26, 94], neu: [98, 166], chord: [172, 192] };

  // sections
  g.font = "600 11px system-ui, sans-serif";
  g.textBaseline = "middle";
  const labels = [...new Set((d.sections || []).map(s => s.label.replace(/[′']/g, "")))];
  for (const s of d.sections || []) {
    const x0 = X(s.start_seconds), x1 = X(s.end_seconds);
    g.fillStyle = SECTION_COLOURS[labels.indexOf(s.label.replace(/[′']/g, "")) % SECTION_COLOURS.length];
    roundRect(g, x0 + 1, lanes.sec[0], Math.max(1, x1 - x0 - 2), lanes.sec[1] - lanes.sec[0], 4);
    g.fill();
    if (x1 - x0 > 18) {
      g.fillStyle = "#1f2340";
      g.fillText(s.label, x0 + 6, (lanes.sec[0] + lanes.sec[1]) / 2 + 0.5);
    }
  }

  // beats and bars across both waveform lanes
  const beats = d.beats || [], downbeats = d.downbeats || [];
  const beatGap = beats.length > 1 ? X(beats[1]) - X(beats[0]) : 0;
  if (beatGap >= 5) {
    g.strokeStyle = GRID;
    g.lineWidth = 1;
    g.beginPath();
    for (const b of beats) { const x = Math.round(X(b)) + 0.5; g.moveTo(x, lanes.orig[0]); g.lineTo(x, lanes.neu[1]); }
    g.stroke();
  }
  const barGap = downbeats.length > 1 ? X(downbeats[1]) - X(downbeats[0]) : W;
  const labelEvery = Math.max(1, Math.ceil(26 / Math.max(barGap, 1)));
  g.strokeStyle = "#cfd3e0";
  g.beginPath();
  downbeats.forEach(b => { const x = Math.round(X(b)) + 0.5; g.moveTo(x, lanes.orig[0]); g.lineTo(x, lanes.neu[1]); });
  g.stroke();
  g.fillStyle = "#9aa0b6";
  g.font = "10px system-ui, sans-serif";
  g.textBaseline = "top";
  downbeats.forEach((b, i) => { if (i % labelEvery === 0) g.fillText(String(i + 1), X(b) + 3, lanes.orig[0] + 2); });

  // waveforms
  const active = d.current;
  drawWave(g, d.peaks && d.peaks.original, lanes.orig, W, ORIG, active === "original");
  drawWave(g, d.peaks && d.peaks.reissue, lanes.neu, W, NEW, active === "reissue");
  g.font = "600 10px system-ui, sans-serif";
  g.textBaseline = "top";
  tag(g, "ORIGINAL", W - 6, lanes.orig[1] - 15, ORIG);
  tag(g, "REISSUE", W - 6, lanes.neu[1] - 15, NEW);

  // chords
  g.font = "600 11px system-ui, sans-serif";
  g.textBaseline = "middle";
  let lastEnd = -Infinity;
  for (const c of d.chords || []) {
    if (c.label === "N" || c.label === "X") continue;
    const x = X(c.start_seconds);
    const text = prettyChord(c.label);
    const w = g.measureText(text).width;
    if (x + 3 > lastEnd + 4 && X(c.end_seconds) - x > 10) {
      g.fillStyle = "#c4c8d8";
      g.fillRect(Math.round(x), lanes.chord[0] + 3, 1, lanes.chord[1] - lanes.chord[0] - 6);
      g.fillStyle = INK;
      g.fillText(text, x + 4, (lanes.chord[0] + lanes.chord[1]) / 2);
      lastEnd = x + 4 + w;
    }
  }

  // playhead
  if (Number.isFinite(d.position)) {
    const x = Math.round(X(d.position)) + 0.5;
    g.strokeStyle = active === "reissue" ? NEW : ORIG;
    g.lineWidth = 2;
    g.beginPath(); g.moveTo(x, 0); g.lineTo(x, cssH); g.stroke();
  }
}

function drawWave(g, pk, [top, bottom], W, colour, active) {
  const mid = (top + bottom) / 2, half = (bottom - top) / 2 - 2;
  g.fillStyle = active ? colour : colour + "55";
  if (!pk || !pk.length) return;
  let max = 0;
  for (const v of pk) if (v > max) max = v;
  const scale = max > 0 ? half / Math.max(max, 0.05) : 0;
  g.beginPath();
  for (let x = 0; x < pk.length; x++) {
    const h = Math.max(0.5, pk[x] * scale);
    g.rect((x / pk.length) * W, mid - h, Math.max(1, W / pk.length), 2 * h);
  }
  g.fill();
}

function tag(g, text, right, y, colour) {
  const w = g.measureText(text).width + 10;
  g.fillStyle = "rgba(255,255,255,.85)";
  roundRect(g, right - w, y, w, 14, 3);
  g.fill();
  g.fillStyle = colour;
  g.fillText(text, right - w + 5, y + 2);
}

function roundRect(g, x, y, w, h, r) {
  g.beginPath();
  g.moveTo(x + r, y);
  g.arcTo(x + w, y, x + w, y + h, r);
  g.arcTo(x + w, y + h, x, y + h, r);
  g.arcTo(x, y + h, x, y, r);
  g.arcTo(x, y, x + w, y, r);
  g.closePath();
}

export function prettyChord(label) {
  const [root, quality = "maj"] = String(label).split(":");
  const q = quality.split("/")[0];
  const suffix = { maj: "", min: "m", "7": "7", maj7: "maj7", min7: "m7", dim: "°", aug: "+",
                   sus4: "sus4", sus2: "sus2", hdim7: "ø7", dim7: "°7" }[q];
  return root + (suffix ?? q);
}

// ------------------------------------------------------------------ SVG panels

function svg(w, h, body) {
  return `<svg viewBox="0 0 ${w} ${h}" role="img" preserveAspectRatio="xMidYMid meet">${body}</svg>`;
}

function axisY(x0, x1, ys, fmt, Y) {
  return ys.map(v => `<line x1="${x0}" x2="${x1}" y1="${Y(v)}" y2="${Y(v)}" stroke="${GRID}"/>` +
    `<text x="${x0 - 4}" y="${Y(v) + 3}" text-anchor="end">${fmt(v)}</text>`).join("");
}

function path(points) {
  let dstr = "", pen = false;
  for (const [x, y] of points) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) { pen = false; continue; }
    dstr += `${pen ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  }
  return dstr;
}

export function legend(items) {
  return `<div class="legend">${items.map(([label, colour, dash]) =>
    `<span><i class="${dash ? "dash" : ""}" style="background:${colour}"></i>${esc(label)}</span>`).join("")}</div>`;
}

/** Short-term loudness (3 s windows) of both, in original time; the style's target as a line. */
export function loudnessChart(el, { original, reissue, hopOriginal, hopReissue, toOriginal,
                                    duration, target }) {
  const w = 320, h = 170, l = 34, r = 8, t = 8, b = 20;
  const all = [...original, ...reissue].filter(v => v > -69);
  const top = Math.ceil((Math.max(-6, ...all, target ?? -60) + 2) / 6) * 6;
  const bottom = Math.max(top - 36, Math.floor((Math.min(...all, top - 12) - 2) / 6) * 6);
  const X = s => l + (s / duration) * (w - l - r);
  const Y = v => t + (top - Math.min(top, Math.max(bottom, v))) / (top - bottom) * (h - t - b);
  const ticks = [];
  for (let v = top; v >= bottom; v -= 6) ticks.push(v);
  const line = (vals, hop, map, colour) => {
    const pts = vals.map((v, i) => [X(map((i + 1) * hop)), v > -69 ? Y(v) : NaN]);
    return `<path d="${path(pts)}" fill="none" stroke="${colour}" stroke-width="1.8" stroke-linejoin="round"/>`;
  };
  const xt = [];
  const step = duration > 240 ? 60 : duration > 90 ? 30 : duration > 40 ? 15 : 5;
  for (let s = 0; s <= duration; s += step) xt.push(`<text x="${X(s)}" y="${h - 6}" text-anchor="middle">${fmtTime(s).replace(/\.\d$/, "")}</text>`);
  el.innerHTML = svg(w, h, axisY(l, w - r, ticks, v => v, Y) + xt.join("") +
    (Number.isFinite(target) ? `<line x1="${l}" x2="${w - r}" y1="${Y(target)}" y2="${Y(target)}" stroke="${INK}" stroke-dasharray="4 3"/>` : "") +
    line(original, hopOriginal, s => s, ORIG) + line(reissue, hopReissue, toOriginal, NEW)) +
    legend([["Original", ORIG], ["Reissue", NEW], ["Target", INK, true]]) +
    `<div class="legend"><span>short-term loudness (3 s windows), LUFS</span></div>`;
}

const BAND_ORDER = ["25", "31.5", "40", "50", "63", "80", "100", "125", "160", "200", "250", "315",
  "400", "500", "630", "800", "1000", "1250", "1600", "2000", "2500", "3150", "4000", "5000",
  "6300", "8000", "10000", "12500", "16000", "20000"];

/** Long-term 1/3-octave levels relative to the 1 kHz band, and the style's target curve. */
export function spectrumChart(el, { original, reissue, target }) {
  const w = 320, h = 170, l = 34, r = 8, t = 8, b = 20;
  const rel = bands => {
    if (!bands) return {};
    const ref = bands["1000"] ?? 0;
    return Object.fromEntries(Object.entries(bands).filter(([, v]) => v > -140).map(([k, v]) => [k, v - ref]));
  };
  const o = rel(original), n = rel(reissue);
  const tg = target ? rel(target) : {};
  const vals = [...Object.values(o), ...Object.values(n), ...Object.values(tg)];
  const top = Math.ceil((Math.max(6, ...vals) + 1) / 6) * 6;
  const bottom = Math.max(-48, Math.floor((Math.min(-12, ...vals) - 1) / 6) * 6);
  const lx = f => Math.log10(f);
  const X = f => l + (lx(f) - lx(25)) / (lx(20000) - lx(25)) * (w - l - r);
  const Y = v => t + (top - Math.min(top, Math.max(bottom, v))) / (top - bottom) * (h - t - b);
  const ticks = [];
  for (let v = top; v >= bottom; v -= 12) ticks.push(v);
  const line = (bands, colour, extra = "") => {
    const pts = BAND_ORDER.filter(k => k in bands).map(k => [X(+k), Y(bands[k])]);
    return `<path d="${path(pts)}" fill="none" stroke="${colour}" stroke-width="1.8" ${extra}/>`;
  };
  const fx = [[50, "50"], [200, "200"], [1000, "1k"], [5000, "5k"], [20000, "20k"]]
    .map(([f, s]) => `<text x="${X(f)}" y="${h - 6}" text-anchor="middle">${s}</text>`).join("");
  const targetDots = BAND_ORDER.filter(k => k in tg)
    .map(k => `<circle cx="${X(+k)}" cy="${Y(tg[k])}" r="2.5" fill="${INK}"/>`).join("");
  el.innerHTML = svg(w, h, axisY(l, w - r, ticks, v => (v > 0 ? "+" : "") + v, Y) + fx +
    line(tg, INK, 'stroke-dasharray="4 3" stroke-width="1.2"') + targetDots +
    line(o, ORIG) + line(n, NEW)) +
    legend([["Original", ORIG], ["Reissue", NEW], ["Style target", INK, true]]);
}

/** Side/mid energy ratio and L/R correlation, before and after. */
export function widthChart(el, { original, reissue }) {
  const rows = [["Original", original, ORIG], ["Reissue", reissue, NEW]];
  const maxW = Math.max(0.6, ...rows.map(r => r[1].stereo_width || 0)) * 1.1;
  el.innerHTML = rows.map(([name, s, colour]) => `
    <div class="meter-row"><span class="name">${name}</span>
      <span class="meter"><span class="r" style="width:${Math.min(100, (s.stereo_width || 0) / maxW * 100)}%;background:${colour}"></span></span>
      <span class="val">${(s.stereo_width ?? 0).toFixed(2)}</span></div>`).join("") +
    `<div class="legend"><span>side/mid energy: 0 = mono, 1 = uncorrelated</span></div>
     <div class="meter-row" style="margin-top:12px"><span class="name">L/R correlation</span>
       <span class="small muted">${(original.lr_correlation ?? 0).toFixed(2)} → <b style="color:${NEW}">${(reissue.lr_correlation ?? 0).toFixed(2)}</b></span><span></span></div>
     <div class="meter-row"><span class="name">Loudness</span>
       <span class="small muted">${(original.integrated_lufs ?? 0).toFixed(1)} → <b style="color:${NEW}">${(reissue.integrated_lufs ?? 0).toFixed(1)}</b> LUFS</span><span></span></div>
     <div class="meter-row"><span class="name">True peak</span>
       <span class="small muted">${(original.true_peak_dbtp ?? 0).toFixed(1)} → <b style="color:${NEW}">${(reissue.true_peak_dbtp ?? 0).toFixed(1)}</b> dBTP</span><span></span></div>`;
}

const titleCase = s => s.charAt(0).toUpperCase() + s.slice(1).replace(/_/g, " ");

/** A score with its components as bars (optionally with the original's values behind them). */
export function scoreCard(el, { score, components, originalScore, originalComponents, note }) {
  const pct = v => `${Math.round(Math.max(0, Math.min(1, v)) * 100)}%`;
  el.innerHTML = `<div class="big-score"><b>${(score ?? 0).toFixed(2)}</b>` +
    (Number.isFinite(originalScore) ? `<span class="from">original ${originalScore.toFixed(2)}</span>` : "") +
    `</div>` + Object.entries(components || {}).map(([k, v]) => {
      const o = originalComponents ? originalComponents[k] : undefined;
      return `<div class="meter-row"><span class="name">${esc(titleCase(k))}</span>
        <span class="meter">${Number.isFinite(o) ? `<span class="o" style="width:${pct(o)}"></span>` : ""}
        <span class="r${Number.isFinite(o) ? " half" : ""}" style="width:${pct(v)}"></span></span>
        <span class="val">${v == null ? "–" : v.toFixed(2)}</span></div>`;
    }).join("") + (note ? `<div class="legend">${note}</div>` : "");
}

const STAGE_COLOURS = ["#4338ca", "#6366f1", "#818cf8", "#a5b4fc", "#f59e0b", "#fbbf24", "#10b981",
  "#34d399", "#ec4899", "#f472b6", "#64748b", "#94a3b8", "#0ea5e9"];

export function costCard(el, cost, audioSeconds) {
  const cpu = cost.cpu_seconds_total ?? 0;
  const stages = Object.entries(cost.cpu_seconds || {}).filter(([, v]) => v > 0);
  const total = stages.reduce((s, [, v]) => s + v, 0) || 1;
  const energy = cost.energy_joules ?? 0;
  el.innerHTML = `<div class="cost-grid">
      <div class="stat"><b>${cpu.toFixed(1)} s</b><span>CPU time${audioSeconds ? ` · ${(cpu / audioSeconds).toFixed(2)}× real time` : ""}</span></div>
      <div class="stat"><b>${energy >= 3600 ? (energy / 3600).toFixed(2) + " Wh" : energy.toFixed(0) + " J"}</b><span title="${esc(cost.energy_method || "")}">energy (${esc((cost.energy_method || "estimate").split(/[ :(]/)[0])})</span></div>
      <div class="stat"><b>${(cost.wall_seconds ?? 0).toFixed(1)} s</b><span>wall clock</span></div>
      <div class="stat"><b>${Math.round(cost.peak_memory_mb ?? 0)} MB</b><span>peak memory</span></div>
    </div>
    <div class="stack">${stages.map(([k, v], i) => `<span title="${esc(k)} ${v.toFixed(2)} s" style="width:${(v / total) * 100}%;background:${STAGE_COLOURS[i % STAGE_COLOURS.length]}"></span>`).join("")}</div>
    <div class="stack-legend">${stages.map(([k, v], i) => `<span><i style="background:${STAGE_COLOURS[i % STAGE_COLOURS.length]}"></i>${esc(k)} ${v.toFixed(1)} s</span>`).join("")}</div>`;
}

export { esc };
