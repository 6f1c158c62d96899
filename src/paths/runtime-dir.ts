/**
 * The runtime directory: where the core's unix sockets to and from the transcoders live.
 *
 * - Private: the shared base (`$XDG_RUNTIME_DIR/klive-server`, or `/run/klive-server` as root)
 *   is 0700 and must belong to us; each daemon makes its own `run-XXXXXX` inside it (mkdtemp,
 *   0700). Without a base, the run directory is a fresh private temporary directory
 *   (`$TMPDIR/klive-server-run-XXXXXX`). Sockets are 0600 and the core checks each peer's
 *   uid (crates/server/src/local_socket.rs), so the directory is one layer of two.
 * - Owned for the daemon's lifetime by an flock on `<run dir>/.lock`: a directory whose lock
 *   can be taken belongs to no live daemon, whatever pid numbers say. Start-up sweeps those
 *   (and the old `$TMPDIR/klive-server/run-<pid>` layout of dead pids); stop removes its own.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tryLockFile, type FileLock } from '../ingest/native';
import { silentLogger, type Logger } from '../log';
import { APP_DIR, runtimeBase } from './defaults';
import { PathsError } from './errors';

const RUN_PREFIX = 'run-';
const TMP_RUN_PREFIX = `${APP_DIR}-run-`;
const RUN_LOCK = '.lock';
/** A run directory without a lock file may be one being created right now: spare it this long. */
const UNLOCKED_GRACE_MS = 60_000;

export interface RuntimeDirectoryOptions {
  /** Shared base directory; default per defaults.ts (`null`: none, use a temporary directory). */
  base?: string | null;
  log?: Logger;
}

export class RuntimeDirectory {
  private removed = false;

  private constructor(
    /** This daemon's private directory. */
    readonly path: string,
    private readonly lock: FileLock,
  ) {}

  static create(options: RuntimeDirectoryOptions = {}): RuntimeDirectory {
    const log = options.log ?? silentLogger;
    const uid = process.geteuid?.();
    const base = options.base === undefined ? runtimeBase() : (options.base ?? undefined);
    let parent: string;
    let prefix: string;
    if (base !== undefined && usablePrivateDir(base, uid, log)) {
      parent = base;
      prefix = RUN_PREFIX;
    } else {
      parent = tmpdir();
      prefix = TMP_RUN_PREFIX;
    }
    const swept = sweepStale(parent, prefix, uid) + sweepLegacy(uid);
    if (swept > 0) log.info('removed runtime directories left by stopped servers', { count: swept, parent });
    let path: string;
    try {
      path = mkdtempSync(join(parent, prefix));
    } catch (cause) {
      throw new PathsError('DIRECTORY_UNUSABLE', `cannot create a runtime directory in ${parent}: ${(cause as Error).message}`, { cause });
    }
    const lock = tryLockFile(join(path, RUN_LOCK));
    if (!lock) throw new PathsError('DIRECTORY_UNUSABLE', `runtime directory ${path} is locked by someone else`);
    return new RuntimeDirectory(path, lock);
  }

  /** A private subdirectory (e.g. one per stream pipeline); created 0700. */
  subdirectory(name: string): string {
    const dir = join(this.path, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** Removes the directory and everything in it, then releases the lock. Idempotent. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    rmSync(this.path, { recursive: true, force: true });
    this.lock.release();
  }
}

/**
 * `dir` exists (or is created) as a real directory, owned by us, 0700. A base that is not
 * ours (a symlink, another owner) is refused with a warning; the caller falls back to a
 * temporary directory.
 */
function usablePrivateDir(dir: string, uid: number | undefined, log: Logger): boolean {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') {
      log.debug('runtime base not usable', { dir, reason: (error as Error).message });
      return false;
    }
  }
  try {
    const st = lstatSync(dir);
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) {
      log.warn('runtime base directory is not ours: using a private temporary directory instead', { dir, owner: st.uid });
      return false;
    }
    if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
    return true;
  } catch (error) {
    log.warn('runtime base directory not usable: using a private temporary directory instead', { dir, reason: (error as Error).message });
    return false;
  }
}

/** Removes run directories under `parent` whose lock no live daemon holds. Returns how many. */
export function sweepStale(parent: string, prefix: string, uid: number | undefined, now = Date.now()): number {
  let removed = 0;
  for (const name of namesIn(parent)) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(parent, name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      const lockPath = join(dir, RUN_LOCK);
      if (!existsSync(lockPath) && now - st.mtimeMs < UNLOCKED_GRACE_MS) continue;
      const lock = tryLockFile(lockPath);
      if (!lock) continue;
      try {
        rmSync(dir, { recursive: true, force: true });
        removed++;
      } finally {
        lock.release();
      }
    } catch {
      // Vanished meanwhile, or not ours to remove: leave it.
    }
  }
  return removed;
}

/** The layout before runtime directories were locked: `$TMPDIR/klive-server/run-<pid>`; removed when the pid is gone. */
function sweepLegacy(uid: number | undefined): number {
  const parent = join(tmpdir(), APP_DIR);
  let removed = 0;
  for (const name of namesIn(parent)) {
    const m = /^run-(\d+)$/.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    const dir = join(parent, name);
    try {
      const st = statSync(dir);
      if (uid !== undefined && st.uid !== uid) continue;
      rmSync(dir, { recursive: true, force: true });
      removed++;
    } catch {
      // Not ours to remove.
    }
  }
  return removed;
}

/** The entries of a directory; none when it cannot be read (missing, not ours). */
function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
