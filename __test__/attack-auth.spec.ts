/**
 * Attacks on publisher authentication, end to end: real sockets, a real ffmpeg encoder on a
 * real daemon against the embedded Kaltura emulator (whose call log counts what each attack
 * costs Kaltura), HLS read from the origin. Attackers are raw RTMP clients from other loopback
 * addresses (127.0.0.2…), or from the encoder's own address where that is the harder case.
 *
 * Each case bounds its time (generous waits, no timing assertions) and asserts what an
 * operator would check: the real encoder is admitted on its first attempt and its HLS keeps
 * advancing, Kaltura saw a bounded number of calls, the log grew by a bounded number of lines.
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { validateConfig, type KliveConfigInput } from '../src/config';
import { startDaemon, type DaemonHandle } from '../src/daemon';
import { demoFixtures, DEMO_ENTRY_TOKEN, DEMO_PASSTHROUGH_ENTRY_ID, MEDIA_SERVER_ADMIN_SECRET, startKalturaEmulator, type KalturaEmulator } from '../src/dev';
import { createLogger } from '../src/log';
import { ADMIN_TOKEN, OpsClient, parsePrometheus } from './helpers/control-plane';
import { fetchMedia, until, waitForSegments } from './helpers/hls';
import { clip, publishFile, tempDir, type Running } from './helpers/media';
import { connectCommand, handshake } from './helpers/raw-rtmp';

const ENTRY = DEMO_PASSTHROUGH_ENTRY_ID;
/** The passthrough rendition the origin serves (flavor 32 of the demo passthrough profile). */
const RENDITION = `${ENTRY}_32`;
const dir = tempDir('attack-auth');

interface Env {
  emulator: KalturaEmulator;
  daemon: DaemonHandle;
  lines: string[];
  origin: string;
  ops: OpsClient;
  publishUrl(token?: string): string;
  stop(): Promise<void>;
}

async function startEnv(t: ExecutionContext, opts: { emulator?: KalturaEmulator; recordingDirectory?: string; auth?: KliveConfigInput['auth'] } = {}): Promise<Env> {
  const emulator = opts.emulator ?? (await startKalturaEmulator({ fixtures: demoFixtures() }));
  const lines: string[] = [];
  // Production level: what an operator's log would hold.
  const logger = createLogger({ level: 'info', format: 'json', sink: { write: (line: string) => lines.push(line) } });
  const config = validateConfig({
    kaltura: { serviceUrl: emulator.url, adminSecret: MEDIA_SERVER_ADMIN_SECRET, timeoutMs: 2000, heartbeatIntervalSeconds: 0 },
    hostname: 'klive-attack-test-node',
    rtmp: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN },
    recording: { enabled: false, directory: opts.recordingDirectory ?? tempDir('attack-auth-rec') },
    auth: opts.auth ?? {},
  });
  const daemon = await startDaemon(config, { logger });
  let stopping: Promise<void> | undefined;
  const env: Env = {
    emulator,
    daemon,
    lines,
    origin: `http://127.0.0.1:${daemon.rtmpPort}`,
    ops: new OpsClient(daemon.controlPlane?.url ?? ''),
    publishUrl: (token = DEMO_ENTRY_TOKEN) => `rtmp://127.0.0.1:${daemon.rtmpPort}/kLive/?p=102&e=${ENTRY}&i=0&t=${token}/${ENTRY}_1`,
    stop() {
      stopping ??= (async () => {
        await daemon.stop();
        if (!opts.emulator) await emulator.stop();
      })();
      return stopping;
    },
  };
  t.teardown(() => env.stop());
  return env;
}

/** Kaltura calls a publisher authentication can cost (liveStream.get in partner -5 mode, authenticate). */
function authCalls(emulator: KalturaEmulator): number {
  return emulator.callsOf('livestream', 'authenticate').length + emulator.callsOf('livestream', 'get').length;
}

/** Log lines at info and above (what production keeps). */
function loggedLines(lines: string[]): number {
  return lines.filter((l) => !l.includes('"level":"debug"')).length;
}

interface Publisher {
  running: Running;
  connectionId: number;
}

/** The real encoder: admitted on this very attempt (a refusal fails the test), its stream live. */
async function publishGood(env: Env, media: string): Promise<Publisher> {
  const publish = env.daemon.ingest.waitFor('publish', (e) => e.streamName === `${ENTRY}_1`);
  const running = publishFile(env.publishUrl(), media, 180_000);
  const refusedEarly = running.done.then((r) => {
    throw new Error(`the encoder ended before its publish was admitted: ${r.stderr}`);
  });
  const event = await Promise.race([publish, refusedEarly]);
  await Promise.race([until('the publish admitted', 30_000, () => env.daemon.ingest.stats().streams.some((s) => s.name === `${ENTRY}_1`)), refusedEarly]);
  refusedEarly.catch(() => undefined);
  return { running, connectionId: event.connectionId };
}

/** The encoder loses its connection (the server side closes it) and has exited. */
async function blip(env: Env, publisher: Publisher): Promise<void> {
  env.daemon.ingest.killConnection(publisher.connectionId);
  await publisher.running.done;
}

/** HLS keeps advancing: a segment newer than any listed now appears. */
async function hlsAdvances(env: Env): Promise<void> {
  const now = await fetchMedia(env.origin, RENDITION);
  const last = now?.segments.at(-1)?.seq ?? -1;
  await until('a new HLS segment', 60_000, async () => {
    const p = await fetchMedia(env.origin, RENDITION);
    return p !== undefined && (p.segments.at(-1)?.seq ?? -1) > last;
  }, 250);
}

interface Attempt {
  accepted: boolean;
  /** The refusal's description (what an encoder would show). */
  description: string;
}

/** One raw RTMP connect from `localAddress`; resolves when the server answers it. */
async function attempt(port: number, localAddress: string, query: string): Promise<Attempt> {
  const socket = netConnect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => undefined);
  try {
    await once(socket, 'connect');
    await handshake(socket);
    const received: Buffer[] = [];
    const answered = new Promise<Attempt>((resolve) => {
      const done = () => {
        const all = Buffer.concat(received);
        resolve({ accepted: all.includes('_result'), description: amfStringAfter(all, 'description') });
      };
      socket.on('data', (d: Buffer) => {
        received.push(d);
        if (Buffer.concat(received).includes('_result')) done();
      });
      socket.on('close', done);
    });
    socket.write(connectCommand(`kLive/?${query}`, `rtmp://127.0.0.1:${port}/kLive/?${query}`));
    return await Promise.race([answered, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer to the connect in 30 s')), 30_000))]);
  } finally {
    socket.destroy();
  }
}

/** The AMF0 string value following the key `key` in the server's messages ('' when absent). */
function amfStringAfter(stream: Buffer, key: string): string {
  for (const body of messages(stream)) {
    const at = body.indexOf(key);
    if (at < 0 || body[at + key.length] !== 0x02) continue;
    const len = body.readUInt16BE(at + key.length + 1);
    return body.subarray(at + key.length + 3, at + key.length + 3 + len).toString('utf8');
  }
  return '';
}

/**
 * The message bodies of a server's chunk stream after the handshake (enough of RTMP chunking
 * for a test: one-byte chunk stream ids, Set Chunk Size honoured, no extended timestamps).
 */
function messages(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const state = new Map<number, { length: number; type: number; parts: Buffer[]; have: number }>();
  let chunkSize = 128;
  let i = 0;
  while (i < stream.length) {
    const fmt = stream[i] >> 6;
    const csid = stream[i] & 0x3f;
    i += 1;
    let s = state.get(csid);
    if (fmt === 0 || fmt === 1) {
      const length = stream.readUIntBE(i + 3, 3);
      const type = stream[i + 6];
      i += fmt === 0 ? 11 : 7;
      s = { length, type, parts: [], have: 0 };
      state.set(csid, s);
    } else if (fmt === 2) {
      i += 3;
    }
    if (!s) break;
    if (s.have === s.length) s = { ...s, parts: [], have: 0 };
    state.set(csid, s);
    const take = Math.min(chunkSize, s.length - s.have);
    s.parts.push(stream.subarray(i, i + take));
    s.have += take;
    i += take;
    if (s.have === s.length) {
      const body = Buffer.concat(s.parts);
      if (s.type === 1 && body.length >= 4) chunkSize = body.readUInt32BE(0) & 0x7fffffff;
      out.push(body);
    }
  }
  return out;
}

/** Runs `n` jobs, `width` at a time. */
async function pool<T>(n: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await job(i);
      }
    }),
  );
  return out;
}

/** A daemon with the real encoder on air and its HLS under way. */
async function encoderOnAir(t: ExecutionContext, auth?: KliveConfigInput['auth']): Promise<{ env: Env; media: string; good: Publisher }> {
  const env = await startEnv(t, { auth });
  const media = await clip(dir, 90);
  const good = await publishGood(env, media);
  await waitForSegments(env.origin, RENDITION, 2, 60_000);
  return { env, media, good };
}

/** What an attack costs from now on: Kaltura calls, log lines, minutes (for the budgets' refill). */
function costMeter(env: Env): () => { calls: number; lines: number; minutes: number } {
  const calls0 = authCalls(env.emulator);
  const lines0 = loggedLines(env.lines);
  const started = Date.now();
  return () => ({ calls: authCalls(env.emulator) - calls0, lines: loggedLines(env.lines) - lines0, minutes: (Date.now() - started) / 60_000 });
}

const randomEntryId = () => `0_${Math.random().toString(36).slice(2, 10).padEnd(8, 'q')}`;

test.serial('100 wrong-token connects on the entry: the real encoder reconnects at once; Kaltura calls and log lines stay bounded', async (t) => {
  const { env, media, good } = await encoderOnAir(t, { attemptsPerIpPerMinute: 20, attemptsPerMinute: 1000 });
  const cost = costMeter(env);
  const results = await pool(100, 10, (i) => attempt(env.daemon.rtmpPort, '127.0.0.2', `p=102&e=${ENTRY}&i=0&t=wrong${i}`));
  const { calls, lines, minutes } = cost();
  t.is(results.filter((r) => r.accepted).length, 0, 'every wrong token refused');
  t.true(results.some((r) => /authentication failed\. Invalid token supplied for live entry/.test(r.description)), 'Kaltura’s refusal reaches the client');
  t.true(results.some((r) => /^Too many authentication attempts from 127\.0\.0\.2\. Try to connect in \d+ seconds$/.test(r.description)));
  t.true(calls <= 20 + Math.ceil(20 * minutes) + 1, `${calls} Kaltura authentications for 100 attempts`);
  t.true(lines <= 100, `${lines} log lines for 100 attempts`);
  t.log(`100 wrong-token attempts: ${calls} Kaltura authentications, ${lines} log lines (info and above)`);

  // The encoder blips and reconnects: admitted on its first attempt, from its own address.
  await blip(env, good);
  const again = await publishGood(env, media);
  t.like(env.daemon.auth.connection(again.connectionId), { entryId: ENTRY, serverIndex: 0 });
  t.false(env.daemon.refusals().some((r) => r.ip === '127.0.0.1'), 'the encoder was never refused');
  await hlsAdvances(env);
  again.running.child.kill('SIGKILL');
});

test.serial('the same attack from the encoder’s own address (one NAT) does not hold the encoder up either', async (t) => {
  const env = await startEnv(t, { auth: { attemptsPerIpPerMinute: 10, attemptsPerMinute: 1000 } });
  const media = await clip(dir, 90);
  const good = await publishGood(env, media);
  const results = await pool(100, 10, (i) => attempt(env.daemon.rtmpPort, '127.0.0.1', `p=102&e=${ENTRY}&i=0&t=nat${i}`));
  t.is(results.filter((r) => r.accepted).length, 0);
  t.true(results.some((r) => r.description.startsWith('Too many authentication attempts from 127.0.0.1')), 'the address is out of budget');
  await blip(env, good);
  const again = await publishGood(env, media);
  t.like(env.daemon.auth.connection(again.connectionId), { entryId: ENTRY });
  await hlsAdvances(env);
  again.running.child.kill('SIGKILL');
});

test.serial('a flood of connects with random entry ids from many addresses costs a bounded number of Kaltura calls and does not delay the encoder', async (t) => {
  const { env, media, good } = await encoderOnAir(t, { attemptsPerIpPerMinute: 10, attemptsPerMinute: 30 });
  const cost = costMeter(env);
  // 300 random entry ids (half in the kpublish partner -5 form, which costs a liveStream.get),
  // and one unknown entry hammered 50 times, from 10 addresses.
  const flood = pool(350, 12, (i) => {
    const from = `127.0.0.${3 + (i % 10)}`;
    if (i >= 300) return attempt(env.daemon.rtmpPort, from, `p=102&e=0_nosuch99&i=0&t=x${i}`);
    return attempt(env.daemon.rtmpPort, from, `p=${i % 2 === 0 ? 102 : -5}&e=${randomEntryId()}&i=0&t=tok${i}`);
  });
  // Meanwhile the encoder blips: it is admitted on its first attempt.
  await blip(env, good);
  const decisionStarted = Date.now();
  const again = await publishGood(env, media);
  const admittedInMs = Date.now() - decisionStarted;
  const results = await flood;
  const { calls, lines, minutes } = cost();
  t.is(results.filter((r) => r.accepted).length, 0);
  // The global budget bounds what all addresses together cost (+1: the encoder's own call).
  t.true(calls <= 30 + Math.ceil(30 * minutes) + 1, `${calls} Kaltura calls for 350 connects`);
  t.true(lines <= 350, `${lines} log lines`);
  const byMessage = new Map<string, number>();
  for (const l of env.lines.slice(-lines)) {
    const msg = (JSON.parse(l) as { msg: string }).msg;
    byMessage.set(msg, (byMessage.get(msg) ?? 0) + 1);
  }
  t.log(`log lines by message: ${JSON.stringify(Object.fromEntries(byMessage))}`);
  t.log(`350 connects with unknown entry ids: ${calls} Kaltura calls, ${lines} log lines; the encoder's reconnect was admitted in ${admittedInMs} ms (publish to live, under the flood)`);
  t.like(env.daemon.auth.connection(again.connectionId), { entryId: ENTRY });
  await hlsAdvances(env);
  again.running.child.kill('SIGKILL');
});

test.serial('Kaltura answering 503: a blipping encoder is admitted from its last decision, shown as such, and confirmed when Kaltura is back', async (t) => {
  const { env, media, good } = await encoderOnAir(t);
  // Past the 10 s reuse of a success, so that the reconnect must ask Kaltura.
  await until('the admission older than 10 s', 30_000, () => Date.now() - (env.daemon.auth.connection(good.connectionId)?.authenticatedAt ?? Date.now()) > 10_500);

  env.emulator.setDown(true, 'unavailable');
  await blip(env, good);
  const again = await publishGood(env, media);
  t.like(env.daemon.auth.connection(again.connectionId), { via: 'stale', awaitingRecheck: true });
  await hlsAdvances(env);
  t.true(env.lines.some((l) => l.includes('publisher admitted from the last Kaltura decision')), 'logged');
  t.true(env.lines.some((l) => l.includes('transcode plan from the last Kaltura answer')), 'its plan too');
  const entries = (await env.ops.get('/diagnostics/entries', ADMIN_TOKEN)).json<{ entries: Array<{ entryId: string; inputs: Array<{ admission?: { via: string; awaitingKalturaRecheck: boolean } }> }> }>();
  const input = entries.entries.find((e) => e.entryId === ENTRY)?.inputs[0];
  t.like(input?.admission, { via: 'stale', awaitingKalturaRecheck: true });
  const errors = (await env.ops.get('/diagnostics/errors', ADMIN_TOKEN)).json<{ errors: Array<{ kind: string; message: string }> }>();
  t.true(errors.errors.some((e) => e.kind === 'kaltura' && e.message.startsWith("publisher admitted from Kaltura's decision")));
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const { samples } = parsePrometheus((await env.ops.get('/metrics', ADMIN_TOKEN)).text);
    return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  };
  t.is(await metric('klive_auth_stale_admissions_total', { outcome: 'admitted' }), 1);
  t.is(await metric('klive_auth_stale_awaiting_recheck'), 1);

  env.emulator.setDown(false);
  await until('the re-check confirmed it', 60_000, () => env.daemon.auth.stats().staleConfirmed === 1);
  t.like(env.daemon.auth.connection(again.connectionId), { via: 'stale', awaitingRecheck: false });
  t.is(await metric('klive_auth_stale_admissions_total', { outcome: 'confirmed' }), 1);
  t.is(await metric('klive_auth_stale_awaiting_recheck'), 0);
  await hlsAdvances(env);
  again.running.child.kill('SIGKILL');
});

test.serial('Kaltura unreachable, then refusing: the stale admission ends when Kaltura answers', async (t) => {
  const env = await startEnv(t);
  const media = await clip(dir, 90);
  const good = await publishGood(env, media);
  await until('the admission older than 10 s', 30_000, () => Date.now() - (env.daemon.auth.connection(good.connectionId)?.authenticatedAt ?? Date.now()) > 10_500);
  env.emulator.setDown(true, 'reset');
  await blip(env, good);
  const again = await publishGood(env, media);
  t.like(env.daemon.auth.connection(again.connectionId), { via: 'stale' });
  // The token is regenerated at Kaltura while it is unreachable.
  env.emulator.updateEntry(ENTRY, { token: 'regenerated1' });
  env.emulator.setDown(false);
  const ended = await again.running.done;
  t.not(ended.code, 0, 'the encoder was disconnected');
  t.like(env.daemon.refusals().at(-1), { stage: 'recheck', kalturaCode: 'LIVE_STREAM_INVALID_TOKEN', entryId: ENTRY });
  t.like(env.daemon.auth.stats(), { staleRevoked: 1, staleAwaitingRecheck: 0 });
  // And it is not let back in with the old token.
  const retry = await attempt(env.daemon.rtmpPort, '127.0.0.1', `p=102&e=${ENTRY}&i=0&t=${DEMO_ENTRY_TOKEN}`);
  t.false(retry.accepted);
  t.regex(retry.description, /Invalid token supplied/);
});

test.serial('a daemon restart during a Kaltura outage: the reconnecting encoder is admitted from the decisions kept on disk', async (t) => {
  const emulator = await startKalturaEmulator({ fixtures: demoFixtures() });
  t.teardown(() => emulator.stop());
  const recordingDirectory = tempDir('attack-auth-restart');
  const first = await startEnv(t, { emulator, recordingDirectory });
  const media = await clip(dir, 90);
  const good = await publishGood(first, media);
  const admittedAt = first.daemon.auth.connection(good.connectionId)?.authenticatedAt ?? Date.now();
  await waitForSegments(first.origin, RENDITION, 1, 60_000);
  good.running.child.kill('SIGKILL');
  await good.running.done;
  await first.stop();

  emulator.setDown(true, 'unavailable');
  const second = await startEnv(t, { emulator, recordingDirectory });
  // Past the 10 s reuse of a success: the decision must be bridged, not reused.
  await until('the admission older than 10 s', 30_000, () => Date.now() - admittedAt > 10_500);
  const again = await publishGood(second, media);
  t.like(second.daemon.auth.connection(again.connectionId), { via: 'stale', entryId: ENTRY });
  await waitForSegments(second.origin, RENDITION, 2, 60_000);
  emulator.setDown(false);
  await until('the re-check confirmed it', 60_000, () => second.daemon.auth.stats().staleConfirmed === 1);
  again.running.child.kill('SIGKILL');
});
