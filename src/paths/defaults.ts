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
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

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
