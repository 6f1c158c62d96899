/**
 * The delivery journal: an append-only file of JSON lines in the state directory, each line
 * the full new state of one item (`put`) or its removal (`drop`); the last line about an item
 * wins. Every append is fsynced before the promise resolves, so what a caller awaited survives
 * kill -9 and power loss.
 *
 * - An append is written until complete (a write may take only part of the line, e.g. on a
 *   nearly full disk). If any part of it fails (write or fsync), the file is truncated back to
 *   the end of the last good record before the caller hears of the failure, so a torn record
 *   never glues onto the next one. Should the truncation itself fail, every later append
 *   retries it first and fails while it cannot.
 * - Opening takes an exclusive lock on the state directory (paths/lock.ts): a second daemon on
 *   the same directory fails to start with PathsError STATE_LOCKED instead of interleaving
 *   records. The lock is released by close() (or by the kernel when the process dies).
 * - Opening replays the file. A line that cannot be read (a torn last line after a crash, or
 *   damage) is appended to `<journal>.corrupt` (fsynced) before the journal is compacted, so
 *   nothing is silently thrown away. Compaction writes the live items to a temporary file,
 *   fsyncs it, renames it over the journal and fsyncs the directory.
 *
 * One process owns a journal at a time; appends are serialised in call order.
 */
import { appendFile, mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryLock } from '../paths/lock';
import { RecordingError } from './errors';
import type { DeliveryItem } from './types';

export type JournalRecord = { op: 'put'; item: DeliveryItem } | { op: 'drop'; id: string };

export interface JournalOpenResult {
  journal: Journal;
  /** Live items in enqueue order. */
  items: DeliveryItem[];
  /** Lines that could not be parsed (a torn last line, or damage), moved to the `.corrupt` file. */
  skippedLines: number;
  /** Where those lines went. */
  corruptFile: string;
}

export const JOURNAL_FILE = 'recording-deliveries.jsonl';
/** Suffix of the file that keeps the journal's unreadable lines. */
export const CORRUPT_SUFFIX = '.corrupt';

/** Compact when the file holds this many more lines than there are live items. */
const COMPACT_SLACK_LINES = 5000;

export class Journal {
  private chain: Promise<void> = Promise.resolve();
  private lines: number;
  private closed = false;
  /** Byte length of the file up to the end of the last good record. */
  private goodSize: number;
  /** Set when a failed append could not be truncated away: the tail must go before anything else is written. */
  private tornTail = false;

  private constructor(
    private readonly path: string,
    private readonly dir: string,
    private handle: FileHandle,
    private readonly live: Map<string, DeliveryItem>,
    private readonly lock: DirectoryLock,
    size: number,
  ) {
    this.lines = live.size;
    this.goodSize = size;
  }

  /** Throws PathsError STATE_LOCKED when another journal (process) holds the directory. */
  static async open(dir: string): Promise<JournalOpenResult> {
    const path = join(dir, JOURNAL_FILE);
    const corruptFile = `${path}${CORRUPT_SUFFIX}`;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw ioError(`cannot create the state directory ${dir}`, err);
    }
    const lock = DirectoryLock.acquire(dir);
    try {
      let text = '';
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot read ${path}`, err);
      }
      const live = new Map<string, DeliveryItem>();
      const unreadable: string[] = [];
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        const record = parseRecord(line);
        if (!record) {
          unreadable.push(line);
          continue;
        }
        if (record.op === 'put') live.set(record.item.id, record.item);
        else live.delete(record.id);
      }
      if (unreadable.length > 0) await keepUnreadable(corruptFile, unreadable);
      const size = await writeCompacted(path, dir, [...live.values()]);
      let handle: FileHandle;
      try {
        handle = await open(path, 'a', 0o600);
      } catch (err) {
        throw ioError(`cannot open ${path}`, err);
      }
      const journal = new Journal(path, dir, handle, live, lock, size);
      return { journal, items: [...live.values()].sort((a, b) => a.seq - b.seq).map(clone), skippedLines: unreadable.length, corruptFile };
    } catch (err) {
      lock.release();
      throw err;
    }
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
    this.lock.release();
  }

  private append(record: JournalRecord, apply: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new RecordingError('JOURNAL_IO', `journal ${this.path} is closed`));
    const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
    const run = async (): Promise<void> => {
      if (this.tornTail) await this.truncateToGood();
      try {
        await writeAll(this.handle, line);
        await this.handle.datasync();
      } catch (err) {
        await this.truncateToGood().catch(() => undefined);
        throw ioError(`cannot append to ${this.path}`, err);
      }
      this.goodSize += line.length;
      apply();
      this.lines++;
      if (this.lines > this.live.size + COMPACT_SLACK_LINES) await this.compactNow();
    };
    const result = this.chain.then(run);
    // The chain continues after a failed append; the caller sees the failure.
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Cut the file back to its last good record (and make that durable). */
  private async truncateToGood(): Promise<void> {
    this.tornTail = true;
    try {
      await this.handle.truncate(this.goodSize);
      await this.handle.datasync();
    } catch (err) {
      throw ioError(`cannot truncate ${this.path} after a failed append`, err);
    }
    this.tornTail = false;
  }

  /**
   * Rewrite the file with the live items only. The record that triggered it is already
   * durable, so a failed compaction is not that append's failure: the old file stays in use
   * and the next append tries again.
   */
  private async compactNow(): Promise<void> {
    let size: number;
    let handle: FileHandle;
    try {
      size = await writeCompacted(this.path, this.dir, [...this.live.values()]);
      handle = await open(this.path, 'a', 0o600);
    } catch {
      return;
    }
    const old = this.handle;
    this.handle = handle;
    this.goodSize = size;
    this.lines = this.live.size;
    await old.close().catch(() => undefined);
  }
}

/** write(2) may take part of a buffer (a nearly full disk): write the rest until done or an error. */
async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    offset += bytesWritten;
  }
}

/** Append unreadable journal lines to the `.corrupt` file, durably, before compaction drops them. */
async function keepUnreadable(file: string, lines: string[]): Promise<void> {
  try {
    await appendFile(file, lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
    const fh = await open(file, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw ioError(`cannot keep unreadable journal lines in ${file}`, err);
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

/** Returns the new file's size in bytes. */
async function writeCompacted(path: string, dir: string, items: DeliveryItem[]): Promise<number> {
  const tmp = `${path}.tmp`;
  const body = Buffer.from(
    items
      .sort((a, b) => a.seq - b.seq)
      .map((item) => `${JSON.stringify({ op: 'put', item })}\n`)
      .join(''),
    'utf8',
  );
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await writeAll(fh, body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
  } catch (err) {
    throw ioError(`cannot compact ${path}`, err);
  }
  return body.length;
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
