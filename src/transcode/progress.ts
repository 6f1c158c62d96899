/**
 * ffmpeg `-progress` output → progress records.
 *
 * ffmpeg writes `key=value` lines and closes each report with `progress=continue` (or `end`
 * on exit), about twice a second. Values may be `N/A` before the first frame. Note that
 * `out_time_ms` is in microseconds (an old misnomer kept for compatibility), so `out_time_us`
 * is preferred and both are read as microseconds.
 */

export interface FfmpegProgress {
  /** Frames encoded by the first video encoder (0 for audio-only commands). */
  frame: number;
  fps: number;
  /** Encoding speed relative to real time (1 = keeping up); 0 when not known yet. */
  speed: number;
  /** Frames dropped / duplicated by ffmpeg's frame-rate logic, since start. */
  dropFrames: number;
  dupFrames: number;
  /** Output position in milliseconds (source timeline under -copyts). */
  outTimeMs: number;
  /** Total bitrate of the outputs, kbit/s; 0 when N/A. */
  bitrateKbps: number;
  /** Bytes written to all outputs. */
  totalSize: number;
  /** True on the report ffmpeg writes as it exits. */
  end: boolean;
}

function num(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number.parseFloat(value);
  return Number.isFinite(n) ? n : 0;
}

/** Incremental parser: feed stdout chunks, get the completed reports. */
export class ProgressParser {
  private partial = '';
  private fields = new Map<string, string>();

  push(chunk: string): FfmpegProgress[] {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    const out: FfmpegProgress[] = [];
    for (const raw of lines) {
      const line = raw.trim();
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);
      if (key === 'progress') {
        out.push(this.report(value === 'end'));
        this.fields.clear();
      } else {
        this.fields.set(key, value);
      }
    }
    return out;
  }

  private report(end: boolean): FfmpegProgress {
    const f = this.fields;
    const outUs = f.has('out_time_us') ? num(f.get('out_time_us')) : num(f.get('out_time_ms'));
    return {
      frame: num(f.get('frame')),
      fps: num(f.get('fps')),
      speed: num(f.get('speed')), // '1.02x' parses as 1.02
      dropFrames: num(f.get('drop_frames')),
      dupFrames: num(f.get('dup_frames')),
      outTimeMs: Math.round(outUs / 1000),
      bitrateKbps: num(f.get('bitrate')), // '1234.5kbits/s'
      totalSize: num(f.get('total_size')),
      end,
    };
  }
}
