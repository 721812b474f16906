// The A/B player: one transport over two decoded versions, one musical position.
//
// Both versions are decoded into AudioBuffers (Web Audio), so positions are sample-accurate:
// a source started with start(when, offset) plays offset + (t - when) at context time t. On a
// toggle the playhead of the sounding version at a moment t0 a few ms ahead is mapped through
// the time map, the other version is started at t0 from the mapped position, and the two are
// crossfaded with equal-power curves (cos/sin, 30 ms) so the loudness does not dip.
// Level match turns the louder version down to the quieter one's integrated loudness.

const FADE_SECONDS = 0.03;
const LOOKAHEAD_SECONDS = 0.02;  // schedule switches this far ahead so both starts are exact
const CURVE_POINTS = 64;

function curve(fn) {
  const c = new Float32Array(CURVE_POINTS);
  for (let i = 0; i < CURVE_POINTS; i++) c[i] = fn((i / (CURVE_POINTS - 1)) * Math.PI / 2);
  return c;
}
const FADE_IN = curve(Math.sin);
const FADE_OUT = curve(Math.cos);

export const VERSIONS = ["original", "reissue"];
export const other = v => (v === "original" ? "reissue" : "original");

export class ABPlayer {
  constructor() {
    this.ctx = null;
    this.buffers = { original: null, reissue: null };
    this.loudness = { original: null, reissue: null };
    this.timeMap = null;
    this.current = "original";
    this.playing = false;
    this.anchor = { ctxTime: 0, seconds: 0 };   // `current` was at `seconds` at ctx time ctxTime
    this.voice = null;                          // { source, fade, version }
    this.levelMatch = false;
    this.lastToggle = null;
    this.listeners = new Set();
    this.tap = null;
    this.loadToken = 0;
  }

  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  emit(what) { for (const fn of this.listeners) fn(what, this); }

  context() {
    if (!this.ctx) {
      const ctx = new AudioContext({ latencyHint: "interactive" });
      this.ctx = ctx;
      this.master = ctx.createGain();
      this.trim = {};
      for (const v of VERSIONS) {
        this.trim[v] = ctx.createGain();
        this.trim[v].connect(this.master);
      }
      this.master.connect(ctx.destination);
      this.applyLevels(true);
    }
    return this.ctx;
  }

  /** Decode both versions; `urls` = {original, reissue}; resolves when both are ready. */
  async load(urls, timeMap, loudness = {}) {
    const token = ++this.loadToken;
    this.stop();
    this.buffers = { original: null, reissue: null };
    this.timeMap = timeMap;
    this.loudness = { original: loudness.original ?? null, reissue: loudness.reissue ?? null };
    const ctx = this.context();
    const decoded = await Promise.all(VERSIONS.map(async v => {
      const response = await fetch(urls[v]);
      if (!response.ok) throw new Error(`could not fetch the ${v} audio (${response.status})`);
      return ctx.decodeAudioData(await response.arrayBuffer());
    }));
    if (token !== this.loadToken) return false;     // another load started meanwhile
    this.buffers = { original: decoded[0], reissue: decoded[1] };
    this.current = "original";
    this.anchor = { ctxTime: ctx.currentTime, seconds: 0 };
    this.applyLevels(true);
    this.emit("loaded");
    return true;
  }

  get ready() { return !!(this.buffers.original && this.buffers.reissue && this.timeMap); }
  duration(v = this.current) { return this.buffers[v] ? this.buffers[v].duration : 0; }

  /** Where the sounding version is now: {version, seconds, originalSeconds, contextTime, playing}. */
  position() {
    const now = this.ctx ? this.ctx.currentTime : 0;
    const seconds = this.playing ? this.anchor.seconds + (now - this.anchor.ctxTime)
      : this.anchor.seconds;
    const originalSeconds = this.current === "original" || !this.timeMap ? seconds
      : this.timeMap.toOriginal(seconds);
    return { version: this.current, seconds, originalSeconds, contextTime: now,
             playing: this.playing };
  }

  startVoice(version, when, offset, fadeIn) {
    const ctx = this.ctx;
    const source = ctx.createBufferSource();
    source.buffer = this.buffers[version];
    const fade = ctx.createGain();
    source.connect(fade).connect(this.trim[version]);
    if (fadeIn) {
      fade.gain.setValueAtTime(0, ctx.currentTime);
      fade.gain.setValueCurveAtTime(FADE_IN, when, FADE_SECONDS);
    }
    // a negative offset means "this version starts later": delay its start instead
    const start = offset < 0 ? when - offset : when;
    source.start(start, Math.max(0, offset));
    const voice = { source, fade, version };
    source.onended = () => {
      if (this.voice === voice && this.playing) {      // reached the end by itself
        this.playing = false;
        this.anchor = { ctxTime: this.ctx.currentTime, seconds: this.duration(version) };
        this.voice = null;
        this.emit("ended");
      }
    };
    return voice;
  }

  stopVoice(voice, at, fadeOut) {
    if (!voice) return;
    const t = Math.max(at, this.ctx.currentTime);
    if (fadeOut) {
      voice.fade.gain.cancelScheduledValues(t);
      voice.fade.gain.setValueCurveAtTime(FADE_OUT, t, FADE_SECONDS);
      voice.source.stop(t + FADE_SECONDS + 0.005);
    } else {
      voice.fade.gain.setTargetAtTime(0, t, 0.003);
      voice.source.stop(t + 0.02);
    }
    setTimeout(() => voice.fade.disconnect(), (t - this.ctx.currentTime + 0.2) * 1000);
  }

  async play() {
    if (!this.ready || this.playing) return;
    const ctx = this.context();
    if (ctx.state !== "running") await ctx.resume();
    let at = this.anchor.seconds;
    if (at >= this.duration() - 0.01) at = 0;        // at the end: play from the start
    const when = ctx.currentTime + LOOKAHEAD_SECONDS;
    this.voice = this.startVoice(this.current, when, at, true);
    this.anchor = { ctxTime: when, seconds: at };
    this.playing = true;
    this.emit("play");
  }

  pause() {
    if (!this.playing) return;
    const p = this.position().seconds;
    this.stopVoice(this.voice, this.ctx.currentTime, false);
    this.voice = null;
    this.playing = false;
    this.anchor = { ctxTime: this.ctx.currentTime, seconds: p };
    this.emit("pause");
  }

  playPause() { return this.playing ? this.pause() : this.play(); }

  stop() {
    if (this.voice) this.stopVoice(this.voice, this.ctx.currentTime, false);
    this.voice = null;
    this.playing = false;
    this.anchor = { ctxTime: this.ctx ? this.ctx.currentTime : 0, seconds: 0 };
  }

  /** Jump to `seconds` of `version` (default: the sounding one), keeping play/pause. */
  seek(seconds, version = this.current) {
    if (!this.ready) return;
    const target = version === this.current ? seconds : this.timeMap.map(seconds, version);
    const clamped = Math.min(Math.max(0, target), this.duration());
    if (!this.playing) {
      this.anchor = { ctxTime: this.ctx.currentTime, seconds: clamped };
      this.emit("seek");
      return;
    }
    const when = this.ctx.currentTime + LOOKAHEAD_SECONDS;
    this.stopVoice(this.voice, when, true);
    this.voice = this.startVoice(this.current, when, clamped, true);
    this.anchor = { ctxTime: when, seconds: clamped };
    this.emit("seek");
  }

  /** Switch Original ⇄ Reissue at the same musical position. */
  toggle(to = other(this.current)) {
    if (to === this.current || !this.ready) return this.lastToggle;
    const from = this.current;
    if (!this.playing) {
      const p = this.anchor.seconds;
      const q = this.timeMap.map(p, from);
      this.current = to;
      this.anchor = { ctxTime: this.ctx.currentTime, seconds: Math.min(Math.max(0, q),
                                                                        this.duration(to)) };
      this.lastToggle = { from, to, contextTime: this.anchor.ctxTime, fromSeconds: p,
                          toSeconds: q, playing: false };
      this.applyLevels();
      this.emit("toggle");
      return this.lastToggle;
    }
    const t0 = this.ctx.currentTime + LOOKAHEAD_SECONDS;
    const p = this.anchor.seconds + (t0 - this.anchor.ctxTime);   // `from` position at t0
    const q = this.timeMap.map(p, from);                          // same musical moment in `to`
    const old = this.voice;
    this.current = to;
    this.lastToggle = { from, to, contextTime: t0, fromSeconds: p, toSeconds: q, playing: true };
    this.applyLevels();
    if (q >= this.duration(to)) {                                 // `to` has already ended there
      this.stopVoice(old, t0, true);
      this.voice = null;
      this.playing = false;
      this.anchor = { ctxTime: t0, seconds: this.duration(to) };
    } else {
      this.voice = this.startVoice(to, t0, q, true);
      this.stopVoice(old, t0, true);
      this.anchor = { ctxTime: t0, seconds: q };
    }
    this.emit("toggle");
    return this.lastToggle;
  }

  setLevelMatch(on) {
    this.levelMatch = !!on;
    this.applyLevels();
    this.emit("levels");
  }

  /** Linear gains per version: 1, or the louder one turned down to the quieter one. */
  gains() {
    const g = { original: 1, reissue: 1 };
    const lo = this.loudness.original, lr = this.loudness.reissue;
    if (this.levelMatch && Number.isFinite(lo) && Number.isFinite(lr)) {
      const quieter = Math.min(lo, lr);
      g.original = Math.pow(10, (quieter - lo) / 20);
      g.reissue = Math.pow(10, (quieter - lr) / 20);
    }
    return g;
  }

  applyLevels(immediate = false) {
    if (!this.ctx) return;
    const g = this.gains();
    for (const v of VERSIONS) {
      const param = this.trim[v].gain;
      if (immediate) param.setValueAtTime(g[v], this.ctx.currentTime);
      else param.setTargetAtTime(g[v], this.ctx.currentTime, 0.01);
    }
  }

  // --- a recording tap on the output (used by the browser tests to check the audio itself)

  async enableTap() {
    const ctx = this.context();
    if (this.tap) return;
    await ctx.audioWorklet.addModule(new URL("./tap-worklet.js", import.meta.url));
    const node = new AudioWorkletNode(ctx, "reissue-tap", { numberOfInputs: 1, numberOfOutputs: 1,
                                                            outputChannelCount: [2] });
    this.tap = { node, blocks: [] };
    node.port.onmessage = e => this.tap.blocks.push(e.data);
    this.master.disconnect();
    this.master.connect(node).connect(ctx.destination);
  }

  setTapRecording(on) {
    if (!this.tap) throw new Error("call enableTap() first");
    if (on) this.tap.blocks = [];
    this.tap.node.port.postMessage({ record: !!on });
  }

  /** Recorded output since recording started: {sampleRate, startFrame, samples (left channel)}. */
  tapRecording() {
    const blocks = this.tap ? this.tap.blocks : [];
    if (!blocks.length) return { sampleRate: this.ctx.sampleRate, startFrame: 0, samples: [] };
    const samples = [];
    let expected = blocks[0].frame;
    for (const b of blocks) {
      if (b.frame !== expected) throw new Error(`tap lost frames at ${expected}`);
      for (const x of b.data) samples.push(x);
      expected = b.frame + b.data.length;
    }
    return { sampleRate: this.ctx.sampleRate, startFrame: blocks[0].frame, samples };
  }
}
