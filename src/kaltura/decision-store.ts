/**
 * Kaltura's last good answers — publisher admissions and transcode plans — kept for
 * `auth.staleAdmitSeconds` so that a short Kaltura outage does not drop every encoder that
 * blips (README "Publisher authentication"). They are used only when Kaltura cannot be
 * reached; a definite answer always wins.
 *
 * Persisted in the state directory (`kaltura-decisions.json`, 0600, written atomically a
 * moment after a change and at close): an encoder reconnecting after a daemon restart during
 * a Kaltura outage is the case this exists for, and the daemon restarting (a deploy, a crash)
 * is exactly when every encoder reconnects at once. The state directory's lock (paths/lock.ts,
 * held by the recording journal) keeps two daemons from sharing the file.
 *
 * Keys derived from credentials (a publisher's token) are HMACs under a key derived from the
 * admin secret: the file never holds a token, a guess cannot be checked against it without the
 * secret, and answers recorded under another secret (another Kaltura account) never match.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { silentLogger, type Logger } from '../log';

export const DECISIONS_FILE = 'kaltura-decisions.json';

export interface StoredAnswer<T> {
  /** Epoch ms of Kaltura's answer. */
  at: number;
  value: T;
}

export interface DecisionStoreOptions {
  /** The file to load and save; undefined: in memory only. */
  file?: string;
  /** Key material for `digest` (the admin secret). */
  secret: string;
  /** Answers older than this are forgotten. */
  maxAgeMs: number;
  /** Per namespace; the oldest go first. Default 5000. */
  maxRecords?: number;
  /** Save this long after a change (changes in between are saved together). Default 1000 ms. */
  saveDelayMs?: number;
  now?: () => number;
  log?: Logger;
}

type Row = [key: string, at: number, value: unknown];

interface FileBody {
  version: 1;
  answers: Record<string, Row[]>;
}

export class DecisionStore {
  private readonly spaces = new Map<string, Map<string, StoredAnswer<unknown>>>();
  private readonly staleUses = new Map<string, number>();
  private readonly hmacKey: Buffer;
  private readonly maxRecords: number;
  private readonly saveDelayMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private saveTimer?: NodeJS.Timeout;
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;
  private closed = false;

  private constructor(private readonly opts: DecisionStoreOptions) {
    this.hmacKey = createHmac('sha256', opts.secret).update('klive-server decision store v1').digest();
    this.maxRecords = opts.maxRecords ?? 5000;
    this.saveDelayMs = opts.saveDelayMs ?? 1000;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger;
  }

  /** Loads `opts.file` when it exists (an unreadable file is logged and replaced at the next save). */
  static open(opts: DecisionStoreOptions): DecisionStore {
    const store = new DecisionStore(opts);
    if (opts.file !== undefined) store.load(opts.file);
    return store;
  }

  /** A short keyed digest of `text` (for keys made of credentials). */
  digest(text: string): string {
    return createHmac('sha256', this.hmacKey).update(text).digest('base64url').slice(0, 32);
  }

  /** The answer when it is younger than maxAgeMs and passes `guard`. */
  get<T>(space: string, key: string, guard: (value: unknown) => value is T): StoredAnswer<T> | undefined {
    const rows = this.spaces.get(space);
    const row = rows?.get(key);
    if (!row) return undefined;
    if (this.now() - row.at >= this.opts.maxAgeMs || !guard(row.value)) {
      rows?.delete(key);
      return undefined;
    }
    return { at: row.at, value: row.value };
  }

  set(space: string, key: string, value: unknown, at = this.now()): void {
    let rows = this.spaces.get(space);
    if (!rows) this.spaces.set(space, (rows = new Map()));
    // Re-inserted at the end: the map's order is the eviction order.
    rows.delete(key);
    rows.set(key, { at, value });
    while (rows.size > this.maxRecords) {
      const oldest = rows.keys().next().value as string;
      rows.delete(oldest);
    }
    this.changed();
  }

  delete(space: string, key: string): void {
    if (this.spaces.get(space)?.delete(key)) this.changed();
  }

  /** Count one use of a stale answer (diagnostics). */
  noteStaleUse(space: string): void {
    this.staleUses.set(space, (this.staleUses.get(space) ?? 0) + 1);
  }

  stats(): { records: Record<string, number>; staleUses: Record<string, number>; file?: string } {
    const records: Record<string, number> = {};
    for (const [space, rows] of this.spaces) records[space] = rows.size;
    return { records, staleUses: Object.fromEntries(this.staleUses), ...(this.opts.file === undefined ? {} : { file: this.opts.file }) };
  }

  /** Write pending changes now. */
  async flush(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (!this.dirty || this.opts.file === undefined) return this.saving;
    this.dirty = false;
    const file = this.opts.file;
    const body = this.serialise();
    this.saving = this.saving.then(async () => {
      const tmp = `${file}.tmp`;
      try {
        await writeFile(tmp, body, { mode: 0o600 });
        await rename(tmp, file);
      } catch (error) {
        // Losing these only costs availability during a later outage: log, never fail a caller.
        this.log.warn('last Kaltura decisions not saved', { file, reason: (error as Error).message });
      }
    });
    return this.saving;
  }

  /** Flush and stop saving. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private changed(): void {
    this.dirty = true;
    if (this.closed || this.opts.file === undefined || this.saveTimer) return;
    this.saveTimer = setTimeout(() => void this.flush(), this.saveDelayMs);
    this.saveTimer.unref();
  }

  private serialise(): string {
    const now = this.now();
    const answers: Record<string, Row[]> = {};
    for (const [space, rows] of this.spaces) {
      answers[space] = [];
      for (const [key, row] of rows) if (now - row.at < this.opts.maxAgeMs) answers[space].push([key, row.at, row.value]);
    }
    const body: FileBody = { version: 1, answers };
    return JSON.stringify(body);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn('last Kaltura decisions not readable', { file, reason: (error as Error).message });
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.log.warn('last Kaltura decisions file is not JSON: starting without it', { file });
      return;
    }
    const answers = (body as Partial<FileBody> | null)?.answers;
    if ((body as Partial<FileBody> | null)?.version !== 1 || answers === null || typeof answers !== 'object') return;
    const now = this.now();
    for (const [space, rows] of Object.entries(answers)) {
      if (!Array.isArray(rows)) continue;
      const map = new Map<string, StoredAnswer<unknown>>();
      for (const row of rows as unknown[]) {
        if (!Array.isArray(row) || typeof row[0] !== 'string' || typeof row[1] !== 'number') continue;
        if (now - row[1] >= this.opts.maxAgeMs) continue;
        map.set(row[0], { at: row[1], value: row[2] });
      }
      while (map.size > this.maxRecords) map.delete(map.keys().next().value as string);
      this.spaces.set(space, map);
    }
  }
}
