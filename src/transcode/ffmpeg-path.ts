/**
 * Which ffmpeg (and ffprobe) to run, in DESIGN.md's order: the configured path →
 * `KLIVE_FFMPEG` → `ffmpeg` on PATH → the binary of the optional npm dependency
 * `@ffmpeg-installer/ffmpeg`, so that `npm install` alone gives a working transcoder.
 *
 * Why that package: its per-platform packages (`@ffmpeg-installer/linux-x64` …) carry a
 * static ffmpeg inside the registry tarball, and their only install script is a chmod, so it
 * installs offline. ffmpeg-static and ffmpeg-ffprobe-static download the binary in an install
 * script, which fails without internet access. The shipped build is a 2018 snapshot
 * (N-47683-g0e8eb07980, between 4.1 and 4.2); it has libx264, aac, `-force_key_frames source`
 * and every flag buildFfmpegArgs uses. ffprobe comes the same way from
 * `@ffprobe-installer/ffprobe` (a 2023 static build).
 *
 * An explicitly configured path that does not work is an error, never a silent fall-through:
 * an operator who set it expects that binary to run.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { FfmpegError } from './errors';

export type BinarySource = 'config' | 'env' | 'path' | 'npm';

export interface ResolvedBinary {
  path: string;
  source: BinarySource;
}

interface Candidate {
  /** The env variable, the executable name looked up on PATH, the npm package. */
  envVar: string;
  command: string;
  npmPackage: string;
}

const FFMPEG: Candidate = { envVar: 'KLIVE_FFMPEG', command: 'ffmpeg', npmPackage: '@ffmpeg-installer/ffmpeg' };
const FFPROBE: Candidate = { envVar: 'KLIVE_FFPROBE', command: 'ffprobe', npmPackage: '@ffprobe-installer/ffprobe' };

export interface ResolveOptions {
  /** Default process.env (PATH and the KLIVE_* variables are read from it). */
  env?: NodeJS.ProcessEnv;
  /** Skip the npm package (tests of the order). */
  npm?: boolean;
}

/** The ffmpeg to run. Throws FfmpegError FFMPEG_NOT_FOUND / FFMPEG_UNUSABLE. */
export function resolveFfmpeg(configured?: string, options: ResolveOptions = {}): ResolvedBinary {
  return resolveBinary(FFMPEG, configured, options);
}

/** The ffprobe to run (tests, diagnostics), by the same order with `KLIVE_FFPROBE`. */
export function resolveFfprobe(configured?: string, options: ResolveOptions = {}): ResolvedBinary {
  return resolveBinary(FFPROBE, configured, options);
}

function resolveBinary(c: Candidate, configured: string | undefined, options: ResolveOptions): ResolvedBinary {
  const env = options.env ?? process.env;
  if (configured !== undefined && configured !== '') {
    return { path: explicit(configured, `configured ${c.command} path`, env), source: 'config' };
  }
  const fromEnv = env[c.envVar];
  if (fromEnv !== undefined && fromEnv !== '') {
    return { path: explicit(fromEnv, c.envVar, env), source: 'env' };
  }
  const onPath = findOnPath(c.command, env);
  if (onPath !== null) return { path: onPath, source: 'path' };
  if (options.npm ?? true) {
    const fromNpm = npmBinary(c.npmPackage);
    if (fromNpm !== null) return { path: fromNpm, source: 'npm' };
  }
  throw new FfmpegError(
    'FFMPEG_NOT_FOUND',
    `No ${c.command} found: set the ffmpegPath config key or ${c.envVar}, install ${c.command} (apt-get install ffmpeg), ` +
      `or install the optional npm dependency ${c.npmPackage}`,
  );
}

/** A configured value: a path (relative to the cwd) or a bare command name looked up on PATH. */
function explicit(value: string, what: string, env: NodeJS.ProcessEnv): string {
  if (!value.includes('/')) {
    const found = findOnPath(value, env);
    if (found === null) throw new FfmpegError('FFMPEG_NOT_FOUND', `${what} ${JSON.stringify(value)} is not on PATH`);
    return found;
  }
  const path = isAbsolute(value) ? value : resolve(value);
  if (!isExecutableFile(path)) throw new FfmpegError('FFMPEG_UNUSABLE', `${what} ${path} is not an executable file`);
  return path;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(command: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

function npmBinary(pkg: string): string | null {
  let exported: unknown;
  try {
    // The installer packages pick the platform package (npm 2/3+ layouts) and throw when
    // none is installed; an optional dependency may well be absent.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    exported = require(pkg);
  } catch {
    return null;
  }
  const path = typeof exported === 'object' && exported !== null ? (exported as { path?: unknown }).path : undefined;
  if (typeof path !== 'string') return null;
  if (!isExecutableFile(path)) {
    // Installed with --ignore-scripts: the package's `chmod u+x` never ran.
    throw new FfmpegError('FFMPEG_UNUSABLE', `${path} (from ${pkg}) is not executable; run chmod +x on it or reinstall without --ignore-scripts`);
  }
  return path;
}

export interface FfmpegCapabilities {
  /** First line of `-version`, e.g. 'ffmpeg version 5.1.9-0+deb12u1 …'. */
  versionLine: string;
  /** `-force_key_frames source` is accepted (ffmpeg ≥ 4.1-era builds). */
  forceKeyFramesSource: boolean;
  /** The encoders buildFfmpegArgs needs. */
  libx264: boolean;
  aac: boolean;
}

function runCapture(path: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/**
 * Asks the binary what it can do, by running it: the version, the encoders, and a one-frame
 * encode with `-force_key_frames source` (a build that lacks the keyword rejects it as a bad
 * time list; the help text of 5.1 does not list it, so only a run tells).
 */
export async function probeFfmpeg(path: string): Promise<FfmpegCapabilities> {
  let version: Awaited<ReturnType<typeof runCapture>>;
  try {
    version = await runCapture(path, ['-hide_banner', '-version'], 10_000);
  } catch (e) {
    throw new FfmpegError('FFMPEG_UNUSABLE', `${path} does not run: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const versionLine = version.stdout.split('\n')[0] ?? '';
  if (version.code !== 0 || !versionLine.startsWith('ffmpeg version')) {
    throw new FfmpegError('FFMPEG_UNUSABLE', `${path} -version failed: ${version.stderr.trim() || versionLine}`);
  }
  const encoders = await runCapture(path, ['-hide_banner', '-encoders'], 10_000);
  const has = (name: string) => new RegExp(`^ [A-Z.]{6} ${name} `, 'm').test(encoders.stdout);
  const keyframes = await runCapture(
    path,
    ['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=size=16x16:duration=0.1', '-force_key_frames:v', 'source', '-c:v', 'rawvideo', '-f', 'null', '-'],
    10_000,
  );
  return { versionLine, forceKeyFramesSource: keyframes.code === 0, libx264: has('libx264'), aac: has('aac') };
}
