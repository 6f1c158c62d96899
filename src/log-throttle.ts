/**
 * Keeps what strangers can make us log small: per key (e.g. client address + refusal code),
 * the first `perWindow` lines of each window are written and the rest counted; the next line
 * written for that key carries how many were left out. Past `maxKeys` distinct keys in a
 * window, all further keys share one budget, so many addresses cannot buy many lines either.
 * Pure: the clock is passed in.
 */

export interface LogThrottleOptions {
  /** Lines written per key per window. Default 3. */
  perWindow?: number;
  /** Default 60 s. */
  windowMs?: number;
  /** Distinct keys tracked per window before they share one budget. Default 1000. */
  maxKeys?: number;
}

interface Window {
  start: number;
  written: number;
  /** Left out since the last line written. */
  suppressed: number;
}

const SHARED = '\u0000shared';

export class LogThrottle {
  private readonly perWindow: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly windows = new Map<string, Window>();

  constructor(options: LogThrottleOptions = {}) {
    this.perWindow = options.perWindow ?? 3;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxKeys = options.maxKeys ?? 1000;
  }

  /**
   * undefined: leave this line out. Otherwise write it, with `suppressed` lines of the same key
   * left out since the previous one (0 when none).
   */
  admit(key: string, now: number): { suppressed: number } | undefined {
    let k = key;
    if (!this.windows.has(k) && this.windows.size >= this.maxKeys) {
      this.expire(now);
      if (this.windows.size >= this.maxKeys) k = SHARED;
    }
    let w = this.windows.get(k);
    if (!w || now - w.start >= this.windowMs) {
      const carried = w?.suppressed ?? 0;
      w = { start: now, written: 0, suppressed: carried };
      this.windows.set(k, w);
    }
    if (w.written >= this.perWindow) {
      w.suppressed++;
      return undefined;
    }
    w.written++;
    const suppressed = w.suppressed;
    w.suppressed = 0;
    return { suppressed };
  }

  private expire(now: number): void {
    // An ended window's count of lines left out is dropped with it: memory stays bounded.
    for (const [key, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(key);
  }
}
