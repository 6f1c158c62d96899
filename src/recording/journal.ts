/**
 * The delivery journal: an append-only file of JSON lines in the state directory, each line
 * the full new state of one item (`put`) or its removal (`drop`); the last line about an item
 * wins. Every append is fsynced before the promise resolves, so what a caller awaited survives
 * kill -9 and power loss. Opening replays the file, ignores a torn last line (a crash in the
 * middle of an append) and compacts: the live items are written to a temporary file, fsynced
 * and renamed over the journal, then the directory is fsynced.
 *
 * One process owns a journal at a time; appends are serialised in call order.
 */
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { RecordingError } from './errors';
import type { DeliveryItem } from './types';

export type JournalRecord = { op: 'put'; item: DeliveryItem } | { op: 'drop'; id: string };

export interface JournalOpenResult {
  journal: Journal;
  /** Live items in enqueue order. */
  items: DeliveryItem[];
  /** Lines that could not be parsed (a torn last line, or damage) and were dropped. */
  skippedLines: number;
}

export const JOURNAL_FILE = 'recording-deliveries.jsonl';

/** Compact when the file holds this many more lines than there are live items. */
const COMPACT_SLACK_LINES = 5000;

export class Journal {
  private chain: Promise<void> = Promise.resolve();
  private lines: number;
  private closed = false;

  private constructor(
    private readonly path: string,
    private readonly dir: string,
    private handle: FileHandle,
    private readonly live: Map<string, DeliveryItem>,
  ) {
    this.lines = live.size;
  }

  static async open(dir: string): Promise<JournalOpenResult> {
    const path = join(dir, JOURNAL_FILE);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw ioError(`cannot create the state directory ${dir}`, err);
    }
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot read ${path}`, err);
    }
    const live = new Map<string, DeliveryItem>();
    let skippedLines = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const record = parseRecord(line);
      if (!record) {
        skippedLines++;
        continue;
      }
      if (record.op === 'put') live.set(record.item.id, record.item);
      else live.delete(record.id);
    }
    await writeCompacted(path, dir, [...live.values()]);
    let handle: FileHandle;
    try {
      handle = await open(path, 'a');
    } catch (err) {
      throw ioError(`cannot open ${path}`, err);
    }
    const journal = new Journal(path, dir, handle, live);
    return { journal, items: [...live.values()].sort((a, b) => a.seq - b.seq).map(clone), skippedLines };
  }

  /** Persist the new state of an item. Resolves once it is on disk. */
  put(item: DeliveryItem): Promise<void> {
    const copy = clone(item);
    return this.append({ op: 'put', item: copy }, () => this.live.set(copy.id, copy));
  }

  /** Forget an item. */
  drop(id: string): Promise<void> {
    return this.append({ op: 'drop', id }, () => this.live.delete(id));
  }

  /** Waits for pending appends, then closes the file. Later calls reject with JOURNAL_IO. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const last = this.chain;
    this.chain = last.then(() => this.handle.close());
    await this.chain.catch(() => undefined);
  }

  private append(record: JournalRecord, apply: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new RecordingError('JOURNAL_IO', `journal ${this.path} is closed`));
    const line = `${JSON.stringify(record)}\n`;
    const run = async (): Promise<void> => {
      try {
        await this.handle.write(line);
        await this.handle.datasync();
      } catch (err) {
        throw ioError(`cannot append to ${this.path}`, err);
      }
      apply();
      this.lines++;
      if (this.lines > this.live.size + COMPACT_SLACK_LINES) await this.compactNow();
    };
    const result = this.chain.then(run);
    // The chain continues after a failed append; the caller sees the failure.
    this.chain = result.catch(() => undefined);
    return result;
  }

  private async compactNow(): Promise<void> {
    await this.handle.close();
    await writeCompacted(this.path, this.dir, [...this.live.values()]);
    this.handle = await open(this.path, 'a');
    this.lines = this.live.size;
  }
}

function parseRecord(line: string): JournalRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const r = value as { op?: unknown; item?: unknown; id?: unknown };
  if (r.op === 'drop' && typeof r.id === 'string') return { op: 'drop', id: r.id };
  if (r.op === 'put' && isItem(r.item)) return { op: 'put', item: r.item };
  return undefined;
}

function isItem(value: unknown): value is DeliveryItem {
  if (value === null || typeof value !== 'object') return false;
  const i = value as Partial<DeliveryItem>;
  return (
    typeof i.id === 'string' &&
    typeof i.seq === 'number' &&
    typeof i.entryId === 'string' &&
    typeof i.flavorParamsId === 'number' &&
    (i.serverIndex === 0 || i.serverIndex === 1) &&
    typeof i.path === 'string' &&
    typeof i.durationMs === 'number' &&
    typeof i.isLast === 'boolean' &&
    typeof i.enqueuedAt === 'number' &&
    (i.state === 'pending' || i.state === 'sending' || i.state === 'done' || i.state === 'failed')
  );
}

async function writeCompacted(path: string, dir: string, items: DeliveryItem[]): Promise<void> {
  const tmp = `${path}.tmp`;
  const body = items
    .sort((a, b) => a.seq - b.seq)
    .map((item) => `${JSON.stringify({ op: 'put', item })}\n`)
    .join('');
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.write(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
  } catch (err) {
    throw ioError(`cannot compact ${path}`, err);
  }
}

/** Makes a rename durable. Some platforms cannot open a directory; that is not an error there. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}

function ioError(message: string, err: unknown): RecordingError {
  return new RecordingError('JOURNAL_IO', `${message}: ${(err as Error).message}`, { cause: err });
}

function clone(item: DeliveryItem): DeliveryItem {
  return { ...item, upload: item.upload ? { ...item.upload } : undefined };
}
