// Pass-through AudioWorklet that can record its input (left channel) with frame stamps.
// Only loaded when a test calls reissuePlayer.enableTap(); the player works without it.
class ReissueTap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.recording = false;
    this.pending = null;
    this.port.onmessage = e => { this.recording = !!e.data.record; };
  }

  process(inputs, outputs) {
    const input = inputs[0];
    const output = outputs[0];
    for (let c = 0; c < output.length; c++) {
      const src = input[c] || input[0];
      if (src) output[c].set(src); else output[c].fill(0);
    }
    if (this.recording) {
      const left = input[0] ? input[0] : new Float32Array(output[0].length);
      if (!this.pending) this.pending = { frame: currentFrame, parts: [] };
      this.pending.parts.push(left.slice());
      if (this.pending.parts.length >= 32) this.flush();
    } else if (this.pending) {
      this.flush();
    }
    return true;
  }

  flush() {
    const n = this.pending.parts.reduce((s, p) => s + p.length, 0);
    const data = new Float32Array(n);
    let i = 0;
    for (const p of this.pending.parts) { data.set(p, i); i += p.length; }
    this.port.postMessage({ frame: this.pending.frame, data });
    this.pending = null;
  }
}
registerProcessor("reissue-tap", ReissueTap);
