/**
 * The attack suite's shared parts: a daemon on the embedded Kaltura emulator with a real ffmpeg
 * encoder on air and its HLS under way, raw-socket attackers (from other loopback addresses,
 * 127.0.0.2…, so that per-address caps see them apart from the encoder), and the meters every
 * case checks: server memory (this process: the daemon runs in it), log lines, HLS progress.
 */
import type { ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { validateConfig, type KliveConfigInput } from '../../src/config';
import { startDaemon, type DaemonHandle } from '../../src/daemon';
import { demoFixtures, DEMO_ENTRY_TOKEN, DEMO_PASSTHROUGH_ENTRY_ID, MEDIA_SERVER_ADMIN_SECRET, startKalturaEmulator, type KalturaEmulator } from '../../src/dev';
import { createLogger } from '../../src/log';
import { ADMIN_TOKEN } from './control-plane';
import { fetchMedia, until, waitForSegments, type MediaPlaylist } from './hls';
import { clip, publishFile, sleep, tempDir, type Running } from './media';
import { amf0, chunk, connectCommand, handshake } from './raw-rtmp';

export const ENTRY = DEMO_PASSTHROUGH_ENTRY_ID;
/** The passthrough rendition the origin serves (flavor 32 of the demo passthrough profile). */
export const RENDITION = `${ENTRY}_32`;

export interface AttackEnv {
  emulator: KalturaEmulator;
  daemon: DaemonHandle;
  lines: string[];
  origin: string;
  rtmpPort: number;
  publishUrl(token?: string): string;
  /** The query string of a valid publish connect. */
  goodQuery: string;
  stop(): Promise<void>;
}

export interface EnvOptions {
  rtmp?: KliveConfigInput['rtmp'];
  http?: KliveConfigInput['http'];
  limitOrigin?: KliveConfigInput['limitOrigin'];
}

/**
 * Segments kept in memory are capped low (the rest spill to disk) so the server's memory
 * settles within seconds of the encoder starting: the cases measure what attacks cost.
 */
const HLS_MEMORY_BUDGET = 4 * 1024 * 1024;

export async function startAttackEnv(t: ExecutionContext, opts: EnvOptions = {}): Promise<AttackEnv> {
  const emulator = await startKalturaEmulator({ fixtures: demoFixtures() });
  const lines: string[] = [];
  // Production level: what an operator's log would hold.
  const logger = createLogger({ level: 'info', format: 'json', sink: { write: (line: string) => lines.push(line) } });
  const config = validateConfig({
    kaltura: { serviceUrl: emulator.url, adminSecret: MEDIA_SERVER_ADMIN_SECRET, timeoutMs: 2000, heartbeatIntervalSeconds: 0 },
    hostname: 'klive-attack-test-node',
    rtmp: { host: '127.0.0.1', port: 0, ...opts.rtmp },
    http: { ...opts.http },
    limitOrigin: { ...opts.limitOrigin },
    admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN },
    hls: { memoryBudgetBytes: HLS_MEMORY_BUDGET },
    recording: { enabled: false, directory: tempDir('attack-rec') },
  });
  const daemon = await startDaemon(config, { logger });
  let stopping: Promise<void> | undefined;
  const goodQuery = `p=102&e=${ENTRY}&i=0&t=${DEMO_ENTRY_TOKEN}`;
  const env: AttackEnv = {
    emulator,
    daemon,
    lines,
    origin: `http://127.0.0.1:${daemon.rtmpPort}`,
    rtmpPort: daemon.rtmpPort,
    goodQuery,
    publishUrl: (token = DEMO_ENTRY_TOKEN) => `rtmp://127.0.0.1:${daemon.rtmpPort}/kLive/?p=102&e=${ENTRY}&i=0&t=${token}/${ENTRY}_1`,
    stop() {
      stopping ??= (async () => {
        await daemon.stop();
        await emulator.stop();
      })();
      return stopping;
    },
  };
  t.teardown(() => env.stop());
  return env;
}

export interface GoodPublisher {
  running: Running;
}

/** The real encoder (a clip published in real time), admitted, with HLS segments listed. */
export async function goodPublisherOnAir(env: AttackEnv, dir: string, seconds = 120): Promise<GoodPublisher> {
  const media = await clip(dir, seconds);
  const running = publishFile(env.publishUrl(), media, (seconds + 60) * 1000);
  await waitForSegments(env.origin, RENDITION, 2, 60_000);
  return { running };
}

/**
 * The HLS reader: polls the live playlist and remembers every segment it saw, so a case can
 * check that the good stream kept advancing with whole GOPs while it was attacked.
 */
export class HlsReader {
  readonly seen = new Map<number, { duration: number; discontinuity: boolean }>();
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly env: AttackEnv) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const p: MediaPlaylist | undefined = await fetchMedia(this.env.origin, RENDITION).catch(() => undefined);
      for (const s of p?.segments ?? []) this.seen.set(s.seq, { duration: s.duration, discontinuity: s.discontinuity });
      await sleep(500);
    }
  }

  get last(): number {
    return Math.max(-1, ...this.seen.keys());
  }

  /** Waits until `n` segments newer than `after` are listed. */
  async advancedBy(after: number, n: number, ms = 90_000): Promise<void> {
    await until(`${n} new HLS segments after #${after}`, ms, () => this.last >= after + n, 250);
  }

  /** Segments newer than `after`, in order. */
  since(after: number): Array<{ seq: number; duration: number; discontinuity: boolean }> {
    return [...this.seen.entries()].filter(([seq]) => seq > after).sort((a, b) => a[0] - b[0]).map(([seq, s]) => ({ seq, ...s }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/** Server memory now (this process), after a full GC so that JavaScript garbage does not count. */
export async function rssAfterGc(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 2; i++) {
    gc?.();
    await sleep(100);
  }
  return process.memoryUsage().rss;
}

/** Log lines at info and above (what production keeps). */
export function loggedLines(lines: string[]): number {
  return lines.filter((l) => !l.includes('"level":"debug"')).length;
}

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** A TCP connection to the server from `localAddress`; errors are swallowed (the server closing is the point). */
export async function openFrom(port: number, localAddress: string): Promise<Socket> {
  const socket = netConnect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/** Resolves when the server has closed `socket` (it is drained meanwhile), or after `ms` with false. */
export function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readableEnded) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('close', done);
    socket.once('end', done);
    socket.resume();
  });
}

/** Attack kinds before authentication, each on one fresh connection. */
export const preAuthAttacks = {
  /** Sends nothing at all (holds a slot in the lobby). */
  async silent(socket: Socket): Promise<void> {},
  /** Half a C0+C1, then nothing (slow-loris in the handshake). */
  async halfHandshake(socket: Socket): Promise<void> {
    socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(700)]));
  },
  /** The handshake, then nothing (no connect). */
  async handshakeOnly(socket: Socket): Promise<void> {
    await handshake(socket);
  },
  /** Message headers announcing 16 MiB on each of 64 chunk streams, 128 bytes sent on each. */
  async announcedLengths(socket: Socket): Promise<void> {
    await handshake(socket);
    const parts: Buffer[] = [];
    for (let csid = 3; csid < 64 + 3; csid++) {
      const header = Buffer.alloc(12);
      header[0] = csid < 64 ? csid : 0; // one-byte ids up to 63; the rest would need two
      header.writeUIntBE(0xffffff, 4, 3);
      header[7] = 20;
      parts.push(header, Buffer.alloc(128));
      if (csid >= 63) break;
    }
    socket.write(Buffer.concat(parts));
  },
  /** A connect whose command object holds an 8 MiB string. */
  async hugeConnect(socket: Socket): Promise<void> {
    await handshake(socket);
    socket.write(chunk(3, 20, 0, amf0('connect', 1, { app: 'kLive', tcUrl: 'x'.repeat(8 * MiB) })));
  },
  /** A valid connect, then unknown commands without end. */
  async unknownCommands(socket: Socket, goodQuery: string, port: number): Promise<void> {
    await handshake(socket);
    socket.write(connectCommand(`kLive/?${goodQuery}`, `rtmp://127.0.0.1:${port}/kLive/?${goodQuery}`));
    const junk = chunk(3, 20, 0, amf0(`nonsense${'z'.repeat(2000)}`, 0, null));
    for (let i = 0; i < 200 && !socket.destroyed; i++) {
      socket.write(junk);
      await sleep(5);
    }
  },
};
