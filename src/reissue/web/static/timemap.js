// Time map between the original and the new version: a monotonic piecewise-linear map
// anchored on beats, [[originalSeconds, newSeconds], ...] as in the render report. Linear
// extrapolation past both ends, exactly as reissue.arrange.TimeMap does in Python.

function interp(t, xs, ys) {
  const n = xs.length;
  if (t <= xs[0]) return ys[0] + (t - xs[0]) * (ys[1] - ys[0]) / (xs[1] - xs[0]);
  if (t >= xs[n - 1]) {
    return ys[n - 1] + (t - xs[n - 1]) * (ys[n - 1] - ys[n - 2]) / (xs[n - 1] - xs[n - 2]);
  }
  let lo = 0, hi = n - 1;          // binary search: xs[lo] <= t < xs[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= t) lo = mid; else hi = mid;
  }
  return ys[lo] + (t - xs[lo]) * (ys[hi] - ys[lo]) / (xs[hi] - xs[lo]);
}

export class TimeMap {
  constructor(pairs) {
    if (!Array.isArray(pairs) || pairs.length < 2) {
      throw new Error("a time map needs at least two [original, new] anchors");
    }
    this.original = pairs.map(p => Number(p[0]));
    this.new = pairs.map(p => Number(p[1]));
    for (let i = 1; i < pairs.length; i++) {
      if (!(this.original[i] > this.original[i - 1] && this.new[i] > this.new[i - 1])) {
        throw new Error(`time map anchors must increase (at ${i})`);
      }
    }
  }
  static identity(duration) { return new TimeMap([[0, 0], [Math.max(duration, 1), Math.max(duration, 1)]]); }
  toNew(t) { return interp(t, this.original, this.new); }
  toOriginal(t) { return interp(t, this.new, this.original); }
  /** Map a position in `from` ("original" | "reissue") seconds to the other version. */
  map(t, from) { return from === "original" ? this.toNew(t) : this.toOriginal(t); }
  get ratio() {
    const n = this.original.length - 1;
    return (this.original[n] - this.original[0]) / (this.new[n] - this.new[0]);
  }
}
