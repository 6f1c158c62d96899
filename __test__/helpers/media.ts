/**
 * Real encoders and probes for the tests: ffmpeg publishes, ffprobe inspects. Both are found
 * the way the product finds them: $KLIVE_FFMPEG / $KLIVE_FFPROBE, then PATH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FFMPEG = process.env.KLIVE_FFMPEG ?? 'ffmpeg';
export const FFPROBE = process.env.KLIVE_FFPROBE ?? 'ffprobe';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion, killing it after `timeoutMs`. */
export function run(cmd: string, args: string[], timeoutMs = 60_000, env?: NodeJS.ProcessEnv, cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A running ffmpeg whose completion can be awaited. */
export interface Running {
  child: ChildProcess;
  done: Promise<RunResult>;
}

export function start(cmd: string, args: string[], timeoutMs = 60_000): Running {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

const madeTempDirs: string[] = [];

/**
 * A fresh directory under $TMPDIR/klive-test, removed when the test file's process (or AVA
 * worker thread) exits: recordings, HLS segments and state of every run would otherwise pile up
 * (gigabytes after a few suite runs). KLIVE_KEEP_TEST_DIRS=1 keeps them for a post-mortem.
 */
export function tempDir(prefix: string): string {
  const base = join(tmpdir(), 'klive-test');
  mkdirSync(base, { recursive: true });
  if (madeTempDirs.length === 0 && process.env.KLIVE_KEEP_TEST_DIRS !== '1') process.on('exit', removeTempDirs);
  const dir = mkdtempSync(join(base, `${prefix}-`));
  madeTempDirs.push(dir);
  return dir;
}

function removeTempDirs(): void {
  for (const dir of madeTempDirs.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // A child still writing into it: left for the OS's tmp cleaning.
    }
  }
}

export interface LiveSource {
  seconds: number;
  size?: string;
  rate?: number;
  sampleRate?: number;
}

/** ffmpeg arguments that encode a live H.264 + AAC test signal in real time. */
export function liveSourceArgs({ seconds, size = '640x360', rate = 30, sampleRate = 44100 }: LiveSource): string[] {
  return [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${rate}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${sampleRate}`,
    '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(rate), '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '96k', '-ac', '2',
  ];
}

/** Publish a live test signal to `url`; resolves when ffmpeg exits. */
export function publishLive(url: string, source: LiveSource, timeoutMs = 60_000): Running {
  return start(FFMPEG, [...liveSourceArgs(source), '-f', 'flv', url], timeoutMs);
}

/** An FLV clip encoded once per directory and reused (cheap `-c copy` publishers). */
export async function clip(dir: string, seconds: number): Promise<string> {
  const path = join(dir, `clip-${seconds}s.flv`);
  if (!existsSync(path)) {
    const args = liveSourceArgs({ seconds }).filter((a) => a !== '-re');
    const r = await run(FFMPEG, ['-y', ...args, '-f', 'flv', path], 120_000);
    if (r.code !== 0) throw new Error(`making the clip failed: ${r.stderr}`);
  }
  return path;
}

/** Publish an existing file in real time without re-encoding. */
export function publishFile(url: string, file: string, timeoutMs = 60_000): Running {
  return start(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-re', '-i', file, '-c', 'copy', '-f', 'flv', url], timeoutMs);
}

export interface ProbeStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  profile?: string;
}

export interface Probe {
  streams: ProbeStream[];
  /** Span of the video packets' timestamps in seconds (plus one frame). */
  videoSeconds: number;
  videoPackets: number;
  audioPackets: number;
}

/** ffprobe a file: its streams and the real span of its timestamps. */
export async function probe(file: string): Promise<Probe> {
  const r = await run(FFPROBE, [
    '-v', 'error', '-of', 'json', '-show_streams', '-show_entries', 'packet=stream_index,pts_time,duration_time', file,
  ]);
  if (r.code !== 0) throw new Error(`ffprobe ${file} failed: ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as {
    streams: (ProbeStream & { index: number })[];
    packets?: { stream_index: number; pts_time?: string; duration_time?: string }[];
  };
  const videoIndex = parsed.streams.find((s) => s.codec_type === 'video')?.index;
  const audioIndex = parsed.streams.find((s) => s.codec_type === 'audio')?.index;
  const packets = parsed.packets ?? [];
  const video = packets.filter((p) => p.stream_index === videoIndex && p.pts_time !== undefined);
  const times = video.map((p) => Number(p.pts_time));
  const frame = video.length > 0 ? Number(video[0].duration_time ?? 0) : 0;
  const videoSeconds = times.length > 0 ? Math.max(...times) - Math.min(...times) + frame : 0;
  return {
    streams: parsed.streams,
    videoSeconds,
    videoPackets: video.length,
    audioPackets: packets.filter((p) => p.stream_index === audioIndex).length,
  };
}

/** True when ffmpeg decodes the whole file without an error. */
export async function decodesCleanly(file: string): Promise<RunResult> {
  return run(FFMPEG, ['-v', 'error', '-i', file, '-f', 'null', '-'], 120_000);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
