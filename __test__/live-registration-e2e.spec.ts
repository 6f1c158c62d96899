/**
 * Issue 11 end to end: real ffmpeg encoders publish to real daemons, and the embedded Kaltura
 * emulator (which keeps entry-server-nodes as kaltura/server does, expiring them when not
 * refreshed) must see the entry live: `liveStream.isLive` true soon after the publish, kept
 * true by the PLAYABLE refreshes, false after the unpublish grace and at shutdown; the
 * registration catches up after a Kaltura outage; primary and backup servers hold their own
 * nodes; APPENDED / PER_SESSION sessions record to the right recorded entry; a blocked partner
 * or a deleted entry ends the publish.
 *
 * The node expiry (120 s in Kaltura) is shortened to 8 s with a 3 s refresh, and the outage to
 * 20 s; KLIVE_LONG_TESTS=1 runs the real figures (120 s expiry, 60 s refresh, a 5-minute
 * publish, a 3-minute outage). Every wait has a deadline, every encoder a time limit.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_ENTRY_TOKEN, MEDIA_SERVER_ADMIN_SECRET, startKalturaEmulator, type KalturaEmulator } from '../src/dev';
import { FLAVOR, fetchMedia, fixturesWith, publishDetailed, startHlsEnv, until, type HlsEnv, type HlsEnvOptions } from './helpers/hls';
import { FFMPEG, sleep, start, tempDir, type Running } from './helpers/media';

const BIN = join(__dirname, '..', 'bin', 'klive-server.js');

const LONG = process.env.KLIVE_LONG_TESTS === '1';
/** Kaltura's media_server_cache_expiry and our refresh (shortened unless LONG). */
const EXPIRY_MS = LONG ? 120_000 : 8000;
const REFRESH_S = LONG ? 60 : 3;
const GRACE_S = 2;
const SEGMENT_MS = 2000;

const LIVE = '0_reglive1';
const DOWN = '0_regdown1';
const PAIR = '0_regpair1';
const APPEND = '0_regappd1';
const SESSION = '0_regsess1';
const BLOCK = '0_regblck1';
const GONE = '0_reggone1';

function fixtures() {
  const passthrough = { flavorParamsIds: [FLAVOR.source], segmentDuration: SEGMENT_MS };
  return fixturesWith([
    { id: LIVE, ...passthrough },
    { id: DOWN, ...passthrough, recordStatus: 1 },
    { id: PAIR, ...passthrough },
    { id: APPEND, ...passthrough, recordStatus: 1 },
    { id: SESSION, ...passthrough, recordStatus: 2 },
    { id: BLOCK, ...passthrough },
    { id: GONE, ...passthrough },
  ]);
}

async function emulator(t: ExecutionContext): Promise<KalturaEmulator> {
  const emu = await startKalturaEmulator({ fixtures: fixtures() });
  emu.setEntryServerNodeExpiry(EXPIRY_MS);
  t.teardown(() => emu.stop());
  return emu;
}

async function env(t: ExecutionContext, emu: KalturaEmulator, extra: Partial<HlsEnvOptions> = {}): Promise<HlsEnv> {
  const e = await startHlsEnv({
    fixtures: fixtures(),
    emulator: emu,
    kaltura: { registrationRefreshSeconds: REFRESH_S },
    recording: { segmentDurationSeconds: 5, republishGraceSeconds: GRACE_S },
    ...extra,
  });
  t.teardown(async () => {
    await e.stop();
    rmSync(e.daemon.config.recording.directory, { recursive: true, force: true });
    rmSync(e.daemon.config.hls.directory, { recursive: true, force: true });
  });
  return e;
}

function encoder(t: ExecutionContext, url: string, seconds: number): Running {
  const enc = publishDetailed(url, { seconds, size: '640x360', videoKbps: 800, noise: 0 }, (seconds + 60) * 1000);
  t.teardown(() => enc.child.kill('SIGKILL'));
  return enc;
}

/** Ends the encoder (an unpublish) and resolves when it has exited. */
async function stopEncoder(enc: Running): Promise<void> {
  enc.child.kill('SIGINT');
  await Promise.race([enc.done, sleep(10_000).then(() => enc.child.kill('SIGKILL'))]);
}

/** A logged boolean parameter as Kaltura reads it (JSON true or form '1' / 'true'). */
const truthy = (v: unknown) => v === true || v === 1 || v === '1' || v === 'true';

const statusOf = (emu: KalturaEmulator, entryId: string, index: number) => emu.entryServerNodes(entryId).find((n) => n.index === index)?.status;

test.serial(`isLive: true within one segment + 3 s of the publish, kept through a ${LONG ? '5-minute' : '25 s'} publish (> the ${EXPIRY_MS / 1000} s expiry), false within 10 s of the unpublish and at shutdown`, async (t) => {
  const publishS = LONG ? 300 : 25;
  t.timeout((publishS + 120) * 1000);
  const emu = await emulator(t);
  const e = await env(t, emu);
  const enc = encoder(t, e.publishUrl(LIVE), publishS + 60);
  // The publish is admitted once Kaltura authenticated it (the node is AUTHENTICATED = 3 then).
  await until('authenticate', 20_000, () => emu.callsOf('liveStream', 'authenticate').some((c) => c.params.entryId === LIVE && c.result === 'OK'));
  const admittedAt = Date.now();
  await until('isLive', SEGMENT_MS + 3000 + 2000, () => emu.isLive(LIVE), 50);
  const liveAfterMs = Date.now() - admittedAt;
  t.true(liveAfterMs <= SEGMENT_MS + 3000, `live ${liveAfterMs} ms after the publish`);
  t.log(`isLive true ${liveAfterMs} ms after the publish was admitted (${SEGMENT_MS} ms segments)`);
  t.is(statusOf(emu, LIVE, 0), 1, 'PLAYABLE');
  const register = emu.callsOf('liveStream', 'registerMediaServer').filter((c) => c.params.entryId === LIVE);
  t.deepEqual(
    register.slice(0, 2).map((c) => [c.params.liveEntryStatus, c.params.mediaServerIndex, c.params.hostname, c.params.applicationName, c.partnerId]),
    [
      ['2', '0', 'klive-hls-test-node', 'kLive', 102],
      ['1', '0', 'klive-hls-test-node', 'kLive', 102],
    ],
  );

  // Through the publish, sampled twice a second: never expired, never not live.
  const notLive: number[] = [];
  const until_ = Date.now() + publishS * 1000 - (Date.now() - admittedAt);
  while (Date.now() < until_) {
    if (!emu.isLive(LIVE)) notLive.push(Date.now() - admittedAt);
    await sleep(500);
  }
  t.deepEqual(notLive, [], 'isLive stayed true');
  const refreshes = emu.callsOf('liveStream', 'registerMediaServer').filter((c) => c.params.entryId === LIVE && c.params.liveEntryStatus === '1').length;
  t.true(refreshes >= Math.floor(publishS / REFRESH_S) - 1, `${refreshes} PLAYABLE registrations`);

  // Taken before the stop: the encoder's connection closes at once, its process may take a
  // while to be reaped on a loaded machine.
  const stoppedAt = Date.now();
  await stopEncoder(enc);
  await until('not live after the unpublish', GRACE_S * 1000 + 10_000, () => !emu.isLive(LIVE), 100);
  t.true(Date.now() - stoppedAt >= GRACE_S * 1000 - 500, 'not before the reconnect grace');
  t.log(`isLive false ${Date.now() - stoppedAt} ms after the encoder stopped (grace ${GRACE_S} s); ${refreshes} PLAYABLE registrations in ${publishS} s`);
  t.deepEqual(emu.entryServerNodes(LIVE), [], 'unregistered');
  t.is(emu.callsOf('liveStream', 'unregisterMediaServer').filter((c) => c.params.entryId === LIVE && c.result === 'OK').length, 1);

  // Shutdown (what SIGTERM runs): unregistered before the node goes offline.
  const enc2 = encoder(t, e.publishUrl(LIVE), 60);
  await until('live again', 20_000, () => emu.isLive(LIVE));
  const shutdownAt = Date.now();
  await e.stop();
  t.false(emu.isLive(LIVE));
  t.deepEqual(emu.entryServerNodes(LIVE), []);
  const order = emu.calls.filter((c) => (c.action === 'unregisterMediaServer' || c.action === 'markOffline') && c.time >= shutdownAt).map((c) => c.action);
  t.deepEqual(order, ['unregisterMediaServer', 'markOffline']);
  enc2.child.kill('SIGKILL');
});

test.serial(`Kaltura down for ${LONG ? '3 minutes' : '20 s'} mid-publish: HLS and recording continue, PLAYABLE again within one refresh after it returns`, async (t) => {
  const outageMs = LONG ? 180_000 : 20_000;
  t.timeout((outageMs + 180_000) * 1.5);
  const emu = await emulator(t);
  const e = await env(t, emu);
  const enc = encoder(t, e.publishUrl(DOWN), (outageMs + 120_000) / 1000);
  await until('isLive', 30_000, () => emu.isLive(DOWN));
  const playlist = await until('HLS', 20_000, () => fetchMedia(e.origin, `${DOWN}_${FLAVOR.source}`));
  const recordingsBefore = emu.recordings.length;

  // Half the outage answers 503, half refuses connections.
  emu.setDown(true, 'unavailable');
  await sleep(outageMs / 2);
  emu.setDown(true, 'reset');
  const midPlaylist = await fetchMedia(e.origin, `${DOWN}_${FLAVOR.source}`);
  await sleep(outageMs / 2);
  const endPlaylist = await fetchMedia(e.origin, `${DOWN}_${FLAVOR.source}`);
  t.false(emu.isLive(DOWN), 'Kaltura dropped the node meanwhile (not refreshed for longer than the expiry)');
  emu.setDown(false);
  const backAt = Date.now();
  await until('PLAYABLE again', REFRESH_S * 1000 + 5000, () => emu.isLive(DOWN), 100);
  const caughtUpMs = Date.now() - backAt;
  t.true(caughtUpMs <= REFRESH_S * 1000 + 1000, `PLAYABLE ${caughtUpMs} ms after Kaltura returned`);
  t.log(`PLAYABLE again ${caughtUpMs} ms after Kaltura returned (refresh ${REFRESH_S} s)`);

  // HLS went on: the media sequence advanced through the outage.
  t.truthy(midPlaylist && endPlaylist);
  const seq = (p: typeof playlist | undefined) => (p ? p.mediaSequence + p.segments.length : 0);
  t.true(seq(midPlaylist) > seq(playlist) && seq(endPlaylist) > seq(midPlaylist), `segments ${seq(playlist)} → ${seq(midPlaylist)} → ${seq(endPlaylist)}`);
  // Recording went on: the segments of the outage arrive afterwards (5 s segments).
  const expected = Math.floor(outageMs / 5000) - 1;
  await until('recordings of the outage delivered', 60_000, () => emu.recordings.length - recordingsBefore >= expected, 500);
  t.pass();
  await stopEncoder(enc);
});

test.serial('primary and backup on two servers: each holds its own node; unpublishing the primary leaves the backup PLAYABLE', async (t) => {
  // The encoder outlasts the watch of the backup through one node expiry.
  const encodeS = 60 + EXPIRY_MS / 1000;
  t.timeout((encodeS + 120) * 1000);
  const emu = await emulator(t);
  const primary = await env(t, emu, { hostname: 'klive-primary', rtmpHost: '127.0.0.2' });
  const backup = await env(t, emu, { hostname: 'klive-backup', rtmpHost: '127.0.0.3' });
  // One encoder teed to both ingest URLs; a failing output does not stop the other.
  const tee = `[f=flv:onfail=ignore]${primary.publishUrl(PAIR, 1, 0)}|[f=flv:onfail=ignore]${backup.publishUrl(PAIR, 1, 1)}`;
  const enc = start(
    FFMPEG,
    [
      '-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(encodeS), '-map', '0:v', '-map', '1:a',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0', '-b:v', '800k', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '96k', '-flags', '+global_header',
      '-f', 'tee', tee,
    ],
    (encodeS + 60) * 1000,
  );
  t.teardown(() => enc.child.kill('SIGKILL'));
  await until('both PLAYABLE', 30_000, () => statusOf(emu, PAIR, 0) === 1 && statusOf(emu, PAIR, 1) === 1);
  t.like(
    emu.entryServerNodes(PAIR).sort((a, b) => a.index - b.index),
    [
      { index: 0, hostName: 'klive-primary', status: 1 },
      { index: 1, hostName: 'klive-backup', status: 1 },
    ],
  );
  // Only the primary asks Kaltura for the recorded entry.
  const register = emu.callsOf('liveStream', 'registerMediaServer').filter((c) => c.params.entryId === PAIR);
  t.true(register.filter((c) => c.params.mediaServerIndex === '1').every((c) => !truthy(c.params.shouldCreateRecordedEntry)));
  // Unpublish the primary only: end the encoder's connection on the primary server (the tee's
  // other output goes on).
  const publishLine = primary.lines.map((l) => JSON.parse(l) as { msg?: string; entryId?: string; connectionId?: number }).find((o) => o.msg === 'codecs' && o.entryId === PAIR);
  t.truthy(publishLine?.connectionId);
  t.true(primary.daemon.ingest.killConnection(publishLine?.connectionId ?? -1));
  await until('primary node gone', 15_000, () => statusOf(emu, PAIR, 0) === undefined);
  // The backup stays PLAYABLE through more than one expiry.
  const watchUntil = Date.now() + EXPIRY_MS + 2000;
  while (Date.now() < watchUntil) {
    t.is(statusOf(emu, PAIR, 1), 1);
    if (statusOf(emu, PAIR, 1) !== 1) break;
    await sleep(500);
  }
  t.true(emu.isLive(PAIR));
  enc.child.kill('SIGINT');
});

for (const [entryId, recordStatus] of [
  [APPEND, 'APPENDED'],
  [SESSION, 'PER_SESSION'],
] as const) {
  test.serial(`${recordStatus}: a second session ${recordStatus === 'APPENDED' ? 'appends to the same' : 'creates a new'} recorded entry`, async (t) => {
    t.timeout(240_000);
    const emu = await emulator(t);
    // live_session_reconnect_timeout shortened from 180 s: the second session is a new one.
    emu.setLiveSessionReconnectTimeout(0);
    const e = await env(t, emu);
    const sessions: string[] = [];
    for (let session = 1; session <= 2; session++) {
      const startedAt = Date.now();
      const enc = encoder(t, e.publishUrl(entryId), 40);
      await until('PLAYABLE', 30_000, () => emu.isLive(entryId));
      const recorded = await until('recorded entry', 10_000, () => emu.getEntry(entryId)?.recordedEntryId);
      // A recorded segment reaches Kaltura in this session.
      await until('a recording appended', 60_000, () => emu.recordings.some((r) => r.entryId === entryId && r.time > startedAt), 500);
      sessions.push(recorded);
      await stopEncoder(enc);
      await until('unregistered', GRACE_S * 1000 + 15_000, () => emu.entryServerNodes(entryId).length === 0);
      await until('last chunk delivered', 60_000, () => emu.recordings.some((r) => r.entryId === entryId && r.isLastChunk && r.time > startedAt), 500);
      await sleep(1100);
    }
    const [first, second] = sessions.map((id) => emu.vodEntry(id));
    t.truthy(first);
    t.is(first?.rootEntryId, entryId);
    if (recordStatus === 'APPENDED') {
      t.is(sessions[1], sessions[0], 'same recorded entry');
    } else {
      t.not(sessions[1], sessions[0], 'a recorded entry per session');
      t.is(first?.name, `test entry ${entryId} 1`);
      t.is(second?.name, `test entry ${entryId} 2`);
    }
    // Only the primary asks for the recorded entry, and it does.
    t.true(emu.callsOf('liveStream', 'registerMediaServer').filter((c) => c.params.entryId === entryId).every((c) => truthy(c.params.shouldCreateRecordedEntry)));
  });
}

for (const [entryId, what, act] of [
  [BLOCK, 'the partner is blocked', (emu: KalturaEmulator) => emu.setPartnerStatus(102, 2)],
  [GONE, 'the entry is deleted', (emu: KalturaEmulator) => emu.deleteEntry(GONE)],
] as const) {
  test.serial(`${what} while live: the next registration ends the publish`, async (t) => {
    // The encoder would go on well past the next refresh.
    t.timeout((REFRESH_S + 120) * 1000);
    const emu = await emulator(t);
    const e = await env(t, emu);
    const enc = encoder(t, e.publishUrl(entryId), REFRESH_S + 60);
    await until('PLAYABLE', 30_000, () => emu.isLive(entryId));
    act(emu);
    const exited = await Promise.race([enc.done.then(() => true), sleep(REFRESH_S * 1000 + 15_000).then(() => false)]);
    t.true(exited, 'the encoder was disconnected');
    const refused = emu.callsOf('liveStream', 'registerMediaServer').filter((c) => c.params.entryId === entryId).pop();
    t.is(refused?.result, entryId === BLOCK ? 'SERVICE_FORBIDDEN_CONTENT_BLOCKED' : 'ENTRY_ID_NOT_FOUND');
    t.is(e.daemon.registration.entry(entryId).lastError?.code, refused?.result);
    t.is(e.daemon.registration.entry(entryId).kalturaStatus, null);
  });
}

test.serial('SIGTERM of the klive-server process: the entry is unregistered (isLive false) before the node is marked offline', async (t) => {
  t.timeout(120_000);
  const emu = await emulator(t);
  const dir = tempDir('reg-sigterm');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      kaltura: { serviceUrl: emu.url, adminSecret: MEDIA_SERVER_ADMIN_SECRET, heartbeatIntervalSeconds: 0, registrationRefreshSeconds: REFRESH_S },
      hostname: 'klive-sigterm-node',
      rtmp: { host: '127.0.0.1', port: 0 },
      recording: { directory: join(dir, 'rec'), republishGraceSeconds: 30 },
      hls: { directory: join(dir, 'hls') },
      log: { format: 'json', level: 'info' },
    }),
  );
  const child = spawn(process.execPath, [BIN, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KLIVE_'))) });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await until('the daemon listening', 30_000, () => Number(/"rtmp":"127\.0\.0\.1:(\d+)"/.exec(out)?.[1] ?? NaN) || undefined);
  const enc = encoder(t, `rtmp://127.0.0.1:${port}/kLive/?p=102&e=${LIVE}&i=0&t=${DEMO_ENTRY_TOKEN}/${LIVE}_1`, 60);
  await until('isLive', 30_000, () => emu.isLive(LIVE));
  const sigtermAt = Date.now();
  child.kill('SIGTERM');
  t.is(await exited, 0, out.slice(-2000));
  // The encoder is still sending (its connection closes with the server): no reconnect grace
  // applies at shutdown.
  t.false(emu.isLive(LIVE));
  t.deepEqual(emu.entryServerNodes(LIVE), []);
  const order = emu.calls.filter((c) => c.time >= sigtermAt && (c.action === 'unregisterMediaServer' || c.action === 'markOffline')).map((c) => `${c.action}:${c.result}`);
  t.deepEqual(order, ['unregisterMediaServer:OK', 'markOffline:OK']);
  enc.child.kill('SIGKILL');
});
