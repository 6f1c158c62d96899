/**
 * Bit rate and frame rate of live streams from the cumulative counters of the core's stats
 * snapshots (media bytes, video frames): a windowed average over the samples the pollers
 * take (dashboard, scrapes), no timers and no per-packet work.
 *
 * The window is the span between the oldest sample still inside `windowMs` (or the latest one
 * before it) and the newest; a stream whose counters go backwards (republished under the same
 * name) starts over. Streams not seen in a sample are forgotten, so memory follows live streams.
 */

export interface StreamCounters {
  name: string;
  /** Media bytes since publish. */
  bytes: number;
  /** Video frames since publish. */
  videoFrames: number;
}

export interface StreamRate {
  /** Media bit rate (audio + video payload), bits/s; null until two samples span enough time. */
  bitrateBps: number | null;
  /** Video frames per second; null until known. */
  fps: number | null;
}

interface Point {
  at: number;
  bytes: number;
  frames: number;
}

const MIN_SPAN_MS = 900;
const MAX_POINTS = 64;

export class StreamRates {
  private readonly series = new Map<string, Point[]>();

  constructor(
    private readonly windowMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Add a sample of every live stream; returns their rates by name. */
  sample(streams: readonly StreamCounters[]): Map<string, StreamRate> {
    const at = this.now();
    const out = new Map<string, StreamRate>();
    const live = new Set<string>();
    for (const s of streams) {
      live.add(s.name);
      let points = this.series.get(s.name);
      const last = points?.[points.length - 1];
      if (!points || (last && (s.bytes < last.bytes || s.videoFrames < last.frames))) {
        points = [];
        this.series.set(s.name, points);
      }
      // Samples closer than 100 ms apart add nothing but noise: replace the newest.
      if (points.length > 1 && at - points[points.length - 1].at < 100) points.pop();
      points.push({ at, bytes: s.bytes, frames: s.videoFrames });
      while (points.length > 2 && (points[1].at <= at - this.windowMs || points.length > MAX_POINTS)) points.shift();
      out.set(s.name, rate(points));
    }
    for (const name of this.series.keys()) if (!live.has(name)) this.series.delete(name);
    return out;
  }
}

function rate(points: readonly Point[]): StreamRate {
  const first = points[0];
  const last = points[points.length - 1];
  const spanMs = last.at - first.at;
  if (points.length < 2 || spanMs < MIN_SPAN_MS) return { bitrateBps: null, fps: null };
  const seconds = spanMs / 1000;
  return {
    bitrateBps: Math.round(((last.bytes - first.bytes) * 8) / seconds),
    fps: Math.round(((last.frames - first.frames) / seconds) * 100) / 100,
  };
}
