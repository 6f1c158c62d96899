/**
 * Where the daemon keeps things by default (README "Files and directories"):
 *
 * - State (recordings, the delivery journal, the last Kaltura decisions): outside /tmp, where
 *   a reboot or a tmp cleaner cannot take undelivered recordings — `/var/lib/klive-server`
 *   when running as root, else `$XDG_STATE_HOME/klive-server` (`~/.local/state/klive-server`).
 *   `--dev` keeps its state in a directory of its own under the system temp directory, one
 *   per run, so a demo never touches the production locations or another dev server.
 * - Runtime (the transcoders' unix sockets): a private directory under `$XDG_RUNTIME_DIR`, or
 *   `/run/klive-server` as root, else a fresh private temporary directory (see runtime-dir.ts).
 */
import { readdirSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';

export const APP_DIR = 'klive-server';

export interface Identity {
  /** Effective uid; undefined on platforms without one. */
  uid: number | undefined;
  env: NodeJS.ProcessEnv;
}

export function currentIdentity(): Identity {
  return { uid: process.geteuid?.(), env: process.env };
}

/** The production state root. */
export function defaultStateRoot(id: Identity = currentIdentity()): string {
  if (id.uid === 0) return join('/var/lib', APP_DIR);
  const xdg = id.env.XDG_STATE_HOME;
  // The XDG spec: a relative path is invalid and must be ignored.
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, APP_DIR);
  return join(id.env.HOME && isAbsolute(id.env.HOME) ? id.env.HOME : homedir(), '.local', 'state', APP_DIR);
}

let devRuns = 0;

/** A state root for one `--dev` run: unique per process and per config load. */
export function devStateRoot(): string {
  devRuns++;
  return join(tmpdir(), `${APP_DIR}-dev`, `${process.pid}-${devRuns}`);
}

/**
 * The shared parent of runtime directories, or undefined when there is none to use (then each
 * run makes a private temporary directory).
 */
export function runtimeBase(id: Identity = currentIdentity()): string | undefined {
  const xdg = id.env.XDG_RUNTIME_DIR;
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, APP_DIR);
  if (id.uid === 0) return join('/run', APP_DIR);
  return undefined;
}

let ephemeralHlsDirectories = 0;
const EPHEMERAL_HLS = /^hls-0-(\d+)-\d+$/;

/**
 * The HLS directory name of a server on an OS-chosen port (tests, embedders): one per process
 * and per config load, so that several servers in one process never share one (the store locks
 * its directory). Such a directory is the daemon's alone: removed at stop, swept once its
 * process is gone.
 */
export function ephemeralHlsDirectoryName(): string {
  ephemeralHlsDirectories++;
  return `hls-0-${process.pid}-${ephemeralHlsDirectories}`;
}

/** Whether `path` is an ephemeral HLS directory made by this process. */
export function isOwnEphemeralHlsDirectory(path: string): boolean {
  const m = EPHEMERAL_HLS.exec(basename(path));
  return m !== null && Number(m[1]) === process.pid;
}

/**
 * Removes the ephemeral HLS directories beside `path` whose process has died (kill -9 leaves
 * them behind); returns how many. Segments can be rebuilt from nothing, so nothing is lost.
 */
export function sweepEphemeralHlsDirectories(path: string): number {
  if (!EPHEMERAL_HLS.test(basename(path))) return 0;
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = EPHEMERAL_HLS.exec(name);
    if (m === null || processAlive(Number(m[1]))) continue;
    rmSync(join(dirname(path), name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
