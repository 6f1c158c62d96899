/**
 * One daemon per state directory: an exclusive lock (flock, through the native core) on
 * `<dir>/klive-server.lock`, held for the daemon's lifetime. The kernel drops it when the
 * process dies, so a crash never leaves a stale lock behind. The holder's pid is written into
 * the file so that a refused second daemon can name the first.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tryLockFile, type FileLock } from '../ingest/native';
import { PathsError } from './errors';

export const LOCK_FILE = 'klive-server.lock';

export class DirectoryLock {
  private constructor(
    readonly directory: string,
    private lock: FileLock | undefined,
  ) {}

  /** Creates the directory (0700) when missing. Throws PathsError STATE_LOCKED when another holder has it. */
  static acquire(directory: string): DirectoryLock {
    try {
      mkdirSync(directory, { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new PathsError('DIRECTORY_UNUSABLE', `cannot create the state directory ${directory}: ${(cause as Error).message}`, { cause });
    }
    const path = join(directory, LOCK_FILE);
    let lock: FileLock | null;
    try {
      lock = tryLockFile(path);
    } catch (cause) {
      throw new PathsError('DIRECTORY_UNUSABLE', (cause as Error).message, { cause });
    }
    if (!lock) {
      const holder = readHolder(path);
      throw new PathsError(
        'STATE_LOCKED',
        `the state directory ${directory} is in use by another klive-server${holder === undefined ? '' : ` (pid ${holder})`}: ` +
          'stop it, or give this one another directory (recording.directory / recording.stateDirectory)',
      );
    }
    try {
      writeFileSync(path, `${process.pid}\n`);
    } catch {
      // The pid is only for the message above; the lock is what counts.
    }
    return new DirectoryLock(directory, lock);
  }

  release(): void {
    this.lock?.release();
    this.lock = undefined;
  }
}

function readHolder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
