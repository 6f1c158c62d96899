/**
 * The daemon in dev mode (embedded Kaltura emulator) with its control plane on an ephemeral
 * port, a constant-bitrate test clip whose real bit rate ffprobe measures, and an HTTP client
 * for the control plane that keeps every answer (to check none leaks a secret).
 */
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { validateConfig } from '../../src/config';
import { startDevDaemon, type DevDaemonHandle } from '../../src/daemon';
import { DEMO_ENTRY_TOKEN, DEMO_PASSTHROUGH_ENTRY_ID, MEDIA_SERVER_ADMIN_SECRET } from '../../src/dev';
import { createLogger } from '../../src/log';
import { FFMPEG, FFPROBE, run, tempDir } from './media';

export const ADMIN_TOKEN = 'adm1n-t0ken-for-the-tests-0123456789';
export const METRICS_TOKEN = 'scr4pe-t0ken-for-the-tests-987654';
export const ENTRY = DEMO_PASSTHROUGH_ENTRY_ID;
/** Every string that must never appear in a control-plane answer. */
export const SECRETS = [ADMIN_TOKEN, METRICS_TOKEN, MEDIA_SERVER_ADMIN_SECRET, DEMO_ENTRY_TOKEN];

export interface OpsEnv {
  daemon: DevDaemonHandle;
  /** `http://127.0.0.1:<admin port>` */
  admin: string;
  lines: string[];
  publishUrl(entryId?: string, token?: string): string;
  stop(): Promise<void>;
}

export async function startOpsEnv(): Promise<OpsEnv> {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', format: 'json', sink: { write: (line: string) => lines.push(line) } });
  const config = validateConfig(
    {
      hostname: 'klive-ops-test-node',
      rtmp: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN },
      metrics: { token: METRICS_TOKEN },
      kaltura: { heartbeatIntervalSeconds: 0 },
      // Each daemon its own recording journal: tests run in parallel.
      recording: { directory: tempDir('ops-rec') },
    },
    { dev: true },
  );
  const daemon = await startDevDaemon(config, { logger });
  const plane = daemon.controlPlane;
  if (!plane) {
    await daemon.stop();
    throw new Error(`the control plane did not start: ${lines.join('\n')}`);
  }
  return {
    daemon,
    admin: plane.url,
    lines,
    publishUrl: (entryId = ENTRY, token = DEMO_ENTRY_TOKEN) => `rtmp://127.0.0.1:${daemon.rtmpPort}/kLive/?p=102&e=${entryId}&i=0&t=${token}/${entryId}_1`,
    stop: () => daemon.stop(),
  };
}

/** A constant-bitrate H.264 (x264 CBR) + AAC FLV clip, and its bit rate as ffprobe measures it. */
export async function cbrClip(dir: string, seconds: number, videoKbps = 1000): Promise<{ path: string; bitrateBps: number; videoBps: number }> {
  const path = join(dir, `cbr-${videoKbps}k-${seconds}s.flv`);
  if (!existsSync(path)) {
    const r = await run(FFMPEG, [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
      '-t', String(seconds),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-pix_fmt', 'yuv420p',
      '-b:v', `${videoKbps}k`, '-minrate', `${videoKbps}k`, '-maxrate', `${videoKbps}k`, '-bufsize', `${videoKbps / 2}k`, '-x264-params', 'nal-hrd=cbr',
      '-c:a', 'aac', '-b:a', '96k', '-ac', '2',
      '-f', 'flv', path,
    ], 120_000);
    if (r.code !== 0) throw new Error(`making the CBR clip failed: ${r.stderr}`);
  }
  const probe = await run(FFPROBE, ['-v', 'error', '-of', 'json', '-show_entries', 'format=bit_rate,duration:stream=codec_type,bit_rate', path]);
  const parsed = JSON.parse(probe.stdout) as { format: { bit_rate: string }; streams: Array<{ codec_type: string; bit_rate?: string }> };
  const video = parsed.streams.find((s) => s.codec_type === 'video');
  return { path, bitrateBps: Number(parsed.format.bit_rate), videoBps: Number(video?.bit_rate ?? videoKbps * 1000) };
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** Raw header names as sent (lower case). */
  headerNames: string[];
  text: string;
  json<T = unknown>(): T;
}

/** A control-plane client that remembers every answer. */
export class OpsClient {
  readonly answers: Array<{ path: string; text: string; headers: string }> = [];

  constructor(private readonly base: string) {}

  get(path: string, token?: string, how: 'bearer' | 'query' = 'bearer', method = 'GET'): Promise<Answer> {
    let target = path;
    const headers: Record<string, string> = {};
    if (token !== undefined && how === 'bearer') headers.authorization = `Bearer ${token}`;
    if (token !== undefined && how === 'query') target += `${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
    return new Promise((resolve, reject) => {
      const req = request(`${this.base}${target}`, { method, headers, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const names: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) names.push(res.rawHeaders[i].toLowerCase());
          this.answers.push({ path, text, headers: res.rawHeaders.join('\n') });
          resolve({ status: res.statusCode ?? 0, headers: res.headers, headerNames: names, text, json: <T>() => JSON.parse(text) as T });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${path} timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** Answers (bodies and headers) that contain any of `secrets`. */
  leaks(secrets: readonly string[]): string[] {
    const out: string[] = [];
    for (const a of this.answers) for (const s of secrets) if (a.text.includes(s) || a.headers.includes(s)) out.push(`${a.path} contains ${s.slice(0, 4)}…`);
    return out;
  }
}

/** Prometheus text format → samples (`name{labels}` → value) and the declared families. */
export function parsePrometheus(text: string): { families: Map<string, string>; samples: Array<{ name: string; labels: Record<string, string>; value: number }> } {
  const families = new Map<string, string>();
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      families.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('#')) {
      if (!/^# HELP \S+ .*/.test(line)) throw new Error(`bad comment line: ${line}`);
      continue;
    }
    // prom-client writes NaN as `Nan`; Prometheus parses values with Go's ParseFloat, which takes any case.
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|[Nn]a[Nn]|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
      let l: RegExpExecArray | null;
      let consumed = 0;
      while ((l = re.exec(m[2])) !== null) {
        labels[l[1]] = l[2];
        consumed += l[0].length;
      }
      if (consumed !== m[2].length) throw new Error(`bad labels: ${line}`);
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { families, samples };
}
