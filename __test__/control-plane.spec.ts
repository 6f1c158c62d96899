/**
 * Issue 7, operations: the control plane of a real daemon (dev mode, embedded Kaltura
 * emulator) against a real ffmpeg publisher. Diagnostics report what the encoder sends
 * (codecs, size, and a plausible fps and bit rate: within a factor of 2 of the published file's),
 * /metrics is valid Prometheus text with the documented families, killConnection ends the
 * encoder, tokens are enforced, and no answer ever holds a secret or a stream token.
 */
import test from 'ava';
import { validateConfig } from '../src/config';
import { startDaemon } from '../src/daemon';
import { DEMO_ENTRY_ID, DEMO_ENTRY_TOKEN, DEMO_MBR_ENTRY_ID, MEDIA_SERVER_ADMIN_SECRET, demoFixtures, startKalturaEmulator } from '../src/dev';
import { createLogger } from '../src/log';
import type { EntriesReport, ErrorsReport, InfoReport } from '../src/http';
import { ADMIN_TOKEN, ENTRY, METRICS_TOKEN, OpsClient, SECRETS, cbrClip, parsePrometheus, startOpsEnv } from './helpers/control-plane';
import { until } from './helpers/hls';
import { FFMPEG, publishFile, start, tempDir } from './helpers/media';

const ENDPOINTS = ['/diagnostics/entries', '/diagnostics/errors', '/diagnostics/info', '/diagnostics/killConnection?clientId=1', '/metrics'];

let clip: { path: string; bitrateBps: number; videoBps: number };

test.before(async () => {
  clip = await cbrClip(tempDir('ops'), 40);
});

test('diagnostics and metrics of a live publish match the encoder; killConnection ends it', async (t) => {
  t.timeout(60_000);
  const env = await startOpsEnv();
  t.teardown(() => env.stop());
  const http = new OpsClient(env.admin);
  const encoder = publishFile(env.publishUrl(), clip.path, 50_000);
  t.teardown(() => void encoder.child.kill('SIGKILL'));

  // Wait until the input has been live long enough for a windowed bit rate and an HLS segment.
  const report = await until('the entry with a measured bit rate and an HLS segment', 30_000, async () => {
    const r = (await http.get('/diagnostics/entries', ADMIN_TOKEN)).json<EntriesReport>();
    const e = r.entries.find((x) => x.entryId === ENTRY);
    const input = e?.inputs[0];
    const ready = input && input.uptimeMs > 8000 && e.outputs.renditions.some((x) => (x.hls?.segmentsWritten ?? 0) >= 1 && x.bitrateBps !== null);
    return ready ? r : undefined;
  }, 500);
  const entry = report.entries.find((x) => x.entryId === ENTRY);
  if (!entry) throw new Error('no entry');
  const input = entry.inputs[0];
  t.is(input.streamName, `${ENTRY}_1`);
  t.like(input.video, { codec: 'H264', width: 640, height: 360 });
  t.like(input.audio, { codec: 'AAC', sampleRate: 44100, channels: 2 });
  t.regex(input.encoder ?? '', /Lavf/);
  t.is(input.protocol, 'rtmp');
  t.is(input.srt, undefined, 'SRT link figures only for SRT inputs');
  // Windowed rates from the core's counters: their arithmetic is checked exactly in
  // http-units.spec.ts (StreamRates). Here only that a real publish yields a plausible figure,
  // within a factor of 2 of the encoder's: how evenly the frames arrive depends on the machine.
  const ratio = input.bitrateBps / clip.bitrateBps;
  t.log(`fps ${input.fps}; bit rate: reported ${input.bitrateBps} bit/s (socket ${input.socketBitrateBps}), ffprobe ${clip.bitrateBps} bit/s (video ${clip.videoBps}), ratio ${ratio.toFixed(3)}`);
  t.true(input.fps >= 15 && input.fps <= 60, `fps ${input.fps} (the clip is 30 fps)`);
  t.true(ratio >= 0.5 && ratio <= 2, `reported ${input.bitrateBps} vs encoder ${clip.bitrateBps}`);
  t.is(typeof input.rttMs, 'number');
  t.is(input.serverIndex, 0);
  t.like(input.metadata, { width: 640, height: 360, framerate: 30 });
  t.like(entry, { partnerId: 102, dvr: { enabled: true, windowMinutes: 120 } });
  t.is(entry.outputs.playback.master, `/kLive/smil:${ENTRY}_all.smil/playlist.m3u8`);
  t.like(entry.outputs.recording, { enabled: false, state: 'off' });
  // Kaltura holds the entry as PLAYABLE once every rendition has a segment (registerMediaServer).
  const registered = await until('PLAYABLE in /diagnostics/entries', 10_000, async () => {
    const r = (await http.get('/diagnostics/entries', ADMIN_TOKEN)).json<EntriesReport>();
    const k = r.entries.find((x) => x.entryId === ENTRY)?.kaltura;
    return k?.liveStatus === 'PLAYABLE' ? k : undefined;
  }, 250);
  t.deepEqual(registered, { liveStatus: 'PLAYABLE' });
  t.true(env.daemon.emulator.isLive(ENTRY));
  const relay = entry.outputs.renditions.find((r) => r.streamName === `${ENTRY}_32`);
  t.like(relay, { kind: 'relay', live: true, video: { width: 640, height: 360 } });
  t.is(relay?.hls?.playlist, `/kLive/${ENTRY}_32/playlist.m3u8`);
  t.true((relay?.bitrateBps ?? 0) / clip.bitrateBps >= 0.5 && (relay?.bitrateBps ?? 0) / clip.bitrateBps <= 2, `rendition ${relay?.bitrateBps}`);

  const info = (await http.get('/diagnostics/info', ADMIN_TOKEN)).json<InfoReport>();
  t.like(info, { hostname: 'klive-ops-test-node', applicationName: 'kLive', counts: { publishers: 1, entries: 1, streams: 2 } });
  t.true(info.usage.self.rssBytes !== null && info.usage.self.rssBytes > 10e6);
  t.is(typeof info.usage.total.cpuPercent, 'number');
  t.truthy(info.kaltura.lastSuccessAt);
  t.true(info.kaltura.adminKs.expiresInSeconds > 80_000);
  t.is(info.ports.rtmp, env.daemon.rtmpPort);

  // Prometheus: the scrape token works, the text parses, the families are there with sane values.
  const scrape = await http.get('/metrics', METRICS_TOKEN);
  t.is(scrape.status, 200);
  t.regex(String(scrape.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const { families, samples } = parsePrometheus(scrape.text);
  const expected: Record<string, string> = {
    klive_connections: 'gauge',
    klive_connections_accepted_total: 'counter',
    klive_publishes: 'gauge',
    klive_publishes_total: 'counter',
    klive_refusals_total: 'counter',
    klive_received_bytes_total: 'counter',
    klive_sent_bytes_total: 'counter',
    klive_stream_bitrate_bits_per_second: 'gauge',
    klive_stream_fps: 'gauge',
    klive_ffmpeg_processes: 'gauge',
    klive_ffmpeg_restarts_total: 'counter',
    klive_hls_segments_written_total: 'counter',
    klive_recording_deliveries_pending: 'gauge',
    klive_recording_deliveries_failed: 'gauge',
    klive_kaltura_api_request_duration_seconds: 'histogram',
    klive_kaltura_api_errors_total: 'counter',
    klive_kaltura_ks_renewals_total: 'counter',
    klive_errors_total: 'counter',
    klive_process_cpu_seconds_total: 'counter',
    klive_streams: 'gauge',
    klive_entries: 'gauge',
    klive_hls_streams: 'gauge',
    klive_ffmpeg_speed_ratio: 'gauge',
    klive_kaltura_ks_expiry_timestamp_seconds: 'gauge',
    klive_kaltura_live_registrations_total: 'counter',
    klive_kaltura_live_registration_kicks_total: 'counter',
  };
  for (const [name, type] of Object.entries(expected)) t.is(families.get(name), type, name);
  const value = (name: string, labels: Record<string, string> = {}) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  t.is(value('klive_connections', { role: 'publisher' }), 1);
  t.is(value('klive_publishes'), 1);
  t.true((value('klive_kaltura_live_registrations_total', { action: 'register', result: 'ok' }) ?? 0) >= 2, 'BROADCASTING then PLAYABLE');
  t.is(value('klive_publishes_total', { result: 'accepted' }), 1);
  t.true((value('klive_received_bytes_total') ?? 0) > 500_000);
  const promBitrate = value('klive_stream_bitrate_bits_per_second', { stream: `${ENTRY}_1`, entry: ENTRY, kind: 'input' }) ?? 0;
  t.true(promBitrate / clip.bitrateBps >= 0.5 && promBitrate / clip.bitrateBps <= 2, `metrics bit rate ${promBitrate}`);
  const renditionFps = value('klive_stream_fps', { stream: `${ENTRY}_32`, kind: 'rendition' });
  t.true((renditionFps ?? 0) >= 15 && (renditionFps ?? 0) <= 60, `rendition fps ${renditionFps}; ${samples.filter((s) => s.name.startsWith('klive_stream_')).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).join('; ')}`);
  t.true((value('klive_hls_segments_written_total') ?? 0) >= 1);
  t.is(value('klive_recording_deliveries_pending'), 0);
  t.true((value('klive_kaltura_api_request_duration_seconds_count', { service: 'livestream', action: 'authenticate' }) ?? 0) >= 1);
  t.is(value('klive_kaltura_ks_renewals_total'), 0);
  // The source and its passthrough rendition, one entry, both packaged to HLS; the KS expiry
  // is the one /diagnostics/info reports.
  t.is(value('klive_streams'), 2);
  t.is(value('klive_entries'), 1);
  t.true((value('klive_hls_streams') ?? 0) >= 1, `hls streams ${value('klive_hls_streams')}`);
  const ksExpiry = value('klive_kaltura_ks_expiry_timestamp_seconds') ?? 0;
  t.true(Math.abs(ksExpiry - (Date.now() / 1000 + info.kaltura.adminKs.expiresInSeconds)) < 120, `KS expiry ${ksExpiry}`);
  // A passthrough entry runs no ffmpeg: the family is declared, with no series.
  t.false(samples.some((s) => s.name === 'klive_ffmpeg_speed_ratio'));
  t.is((await http.get('/metrics', ADMIN_TOKEN)).status, 200, 'the admin token scrapes too');
  t.is((await http.get('/diagnostics/entries', METRICS_TOKEN)).status, 401, 'the scrape token is not an admin token');

  // killConnection closes the encoder's connection: ffmpeg exits on its own.
  t.is((await http.get('/diagnostics/killConnection?clientId=x', ADMIN_TOKEN)).status, 400);
  t.is((await http.get('/diagnostics/killConnection?clientId=99999', ADMIN_TOKEN)).json<{ error: { code: string } }>().error.code, 'UNKNOWN_CONNECTION');
  const killedAt = Date.now();
  const kill = await http.get(`/diagnostics/killConnection?clientId=${input.clientId}`, ADMIN_TOKEN);
  t.is(kill.status, 200, kill.text);
  t.like(kill.json(), { clientId: input.clientId, killed: true, role: 'publisher', entryId: ENTRY });
  // Bounded wait, far below the clip's 40 s: the encoder exits because its connection closed.
  const exit = await Promise.race([encoder.done, new Promise<undefined>((r) => setTimeout(() => r(undefined), 25_000))]);
  t.truthy(exit, 'the publisher exited after the kill, long before its clip ends');
  t.log(`publisher exited ${Date.now() - killedAt} ms after the kill (code ${exit?.code})`);
  await until('the entry to go', 10_000, async () => (await http.get('/diagnostics/entries', ADMIN_TOKEN)).json<EntriesReport>().entries.length === 0, 250);
  // Ended streams leave no per-stream series behind.
  const after = parsePrometheus((await http.get('/metrics', METRICS_TOKEN)).text);
  t.false(after.samples.some((s) => s.name === 'klive_stream_bitrate_bits_per_second'));

  t.deepEqual(http.leaks(SECRETS), []);
});

test('every endpoint refuses a missing or wrong token with 401 JSON; responses carry X-Me and no Server header', async (t) => {
  t.timeout(30_000);
  const env = await startOpsEnv();
  t.teardown(() => env.stop());
  const http = new OpsClient(env.admin);
  for (const path of ENDPOINTS) {
    for (const token of [undefined, 'wrong-token-0123456789abc']) {
      const a = await http.get(path, token);
      t.is(a.status, 401, `${path} with ${token ?? 'no token'}`);
      t.is(a.json<{ error: { code: string } }>().error.code, 'UNAUTHORIZED');
      t.is(a.headers['www-authenticate'], 'Bearer realm="klive-server"');
      t.is(a.headers['x-me'], 'klive-ops-test-node');
      t.false(a.headerNames.includes('server'));
    }
  }
  // ?token= works as well as the header; HEAD gets the headers only.
  t.is((await http.get('/diagnostics/info', ADMIN_TOKEN, 'query')).status, 200);
  const head = await http.get('/diagnostics/info', ADMIN_TOKEN, 'bearer', 'HEAD');
  t.is(head.status, 200);
  t.is(head.text, '');
  t.is((await http.get('/diagnostics/info', ADMIN_TOKEN, 'bearer', 'DELETE')).status, 405);
  t.is((await http.get('/nope', ADMIN_TOKEN)).status, 404);
  // The dashboard page is static and public (it holds no data); it loads hls.js locally.
  const page = await http.get('/dashboard');
  t.is(page.status, 200);
  t.regex(page.text, /<script src="\/dashboard\/hls\.min\.js"><\/script>/);
  t.regex(String(page.headers['content-security-policy']), /script-src 'self'/);
  t.is(page.headers['x-me'], 'klive-ops-test-node');
  t.false(page.headerNames.includes('server'));
  const hls = await http.get('/dashboard/hls.min.js');
  t.is(hls.status, 200);
  t.true(hls.text.length > 100_000);
  t.deepEqual(http.leaks(SECRETS), []);
});

test('errors: refusals with the token masked, Kaltura failures and recorded errors; nothing secret leaks', async (t) => {
  t.timeout(45_000);
  const env = await startOpsEnv();
  t.teardown(() => env.stop());
  const http = new OpsClient(env.admin);
  const wrongToken = 'wr0ngstreamtoken';

  // A publisher with a wrong stream token is refused by Kaltura.
  const refused = publishFile(env.publishUrl(DEMO_MBR_ENTRY_ID, wrongToken), clip.path, 20_000);
  t.teardown(() => void refused.child.kill('SIGKILL'));
  await refused.done;
  // Kaltura unreachable: the publish is refused and the failure is an error of kind kaltura.
  env.daemon.emulator.setDown(true);
  const unreachable = publishFile(env.publishUrl(DEMO_ENTRY_ID), clip.path, 30_000);
  t.teardown(() => void unreachable.child.kill('SIGKILL'));
  await unreachable.done;
  env.daemon.emulator.setDown(false);
  // The recorder's entry point (issue 6 calls it): credentials in its text are masked.
  env.daemon.recordError('recording', `appendRecording failed for ${ENTRY}: upload to https://x.example/upload?token=${ADMIN_TOKEN}`, {
    entryId: ENTRY,
    assetId: '0_asset001',
    ks: 'djJ8MTAyfM-secret-ks',
  });

  const report = (await http.get('/diagnostics/errors', ADMIN_TOKEN)).json<ErrorsReport>();
  const tokenRefusal = report.refusals.find((r) => r.entryId === DEMO_MBR_ENTRY_ID);
  t.truthy(tokenRefusal, JSON.stringify(report));
  t.like(tokenRefusal, { code: 'KALTURA_REFUSED', ip: '127.0.0.1', kalturaCode: 'LIVE_STREAM_INVALID_TOKEN' });
  t.regex(tokenRefusal?.url ?? '', /[?&]t=\*\*\*/);
  t.false(Number.isNaN(Date.parse(tokenRefusal?.time ?? '')));
  const down = report.refusals.find((r) => r.entryId === DEMO_ENTRY_ID);
  t.like(down, { code: 'KALTURA_UNAVAILABLE' });
  const kalturaError = report.errors.find((e) => e.kind === 'kaltura');
  t.truthy(kalturaError, JSON.stringify(report.errors));
  t.regex(kalturaError?.message ?? '', /authenticate failed: (NETWORK|TIMEOUT)/);
  const recording = report.errors.find((e) => e.kind === 'recording');
  t.like(recording, { entryId: ENTRY, details: { assetId: '0_asset001', ks: '***' } });
  t.regex(recording?.message ?? '', /token=\*\*\*/);
  t.true(report.totals.kaltura >= 1 && report.totals.recording === 1);

  const { samples } = parsePrometheus((await http.get('/metrics', METRICS_TOKEN)).text);
  const refusals = samples.filter((s) => s.name === 'klive_refusals_total');
  t.true(refusals.some((s) => s.labels.reason === 'KALTURA_REFUSED' && s.value >= 1), JSON.stringify(refusals));
  t.true(refusals.some((s) => s.labels.reason === 'KALTURA_UNAVAILABLE' && s.value >= 1));
  t.true(samples.some((s) => s.name === 'klive_kaltura_api_errors_total' && (s.labels.code === 'NETWORK' || s.labels.code === 'TIMEOUT') && s.value >= 1));
  t.true(samples.some((s) => s.name === 'klive_errors_total' && s.labels.kind === 'recording' && s.value === 1));

  t.deepEqual(http.leaks([...SECRETS, wrongToken, 'djJ8MTAyfM-secret-ks']), []);
});

test('token modes: only a metrics token serves /metrics and answers 403 DISABLED elsewhere; no token (outside --dev) starts no control plane; /healthz needs none', async (t) => {
  t.timeout(60_000);
  const emulator = await startKalturaEmulator({ fixtures: demoFixtures() });
  t.teardown(() => emulator.stop());
  const start = async (admin: { token?: string }, metrics: { token?: string }) => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', format: 'json', sink: { write: (line: string) => lines.push(line) } });
    const daemon = await startDaemon(
      validateConfig({
        kaltura: { serviceUrl: emulator.url, adminSecret: MEDIA_SERVER_ADMIN_SECRET, heartbeatIntervalSeconds: 0 },
        hostname: 'klive-ops-test-node',
        rtmp: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0, ...admin },
        metrics,
        recording: { directory: tempDir('ops-modes') },
      }),
      { logger },
    );
    t.teardown(() => daemon.stop());
    return { daemon, lines };
  };

  // Only metrics.token: /metrics with it, the diagnostics disabled, /healthz open.
  const scrapeOnly = await start({}, { token: METRICS_TOKEN });
  const plane = scrapeOnly.daemon.controlPlane;
  if (!plane) return t.fail(`no control plane with a metrics token: ${scrapeOnly.lines.join('\n')}`);
  const http = new OpsClient(plane.url);
  t.is((await http.get('/metrics', METRICS_TOKEN)).status, 200);
  t.is((await http.get('/metrics')).status, 401);
  for (const path of ['/diagnostics/entries', '/diagnostics/errors', '/diagnostics/info']) {
    const answer = await http.get(path, METRICS_TOKEN);
    t.is(answer.status, 403, path);
    t.is(answer.json<{ error: { code: string } }>().error.code, 'DISABLED', path);
  }
  const health = await http.get('/healthz');
  t.is(health.status, 200);
  t.deepEqual(health.json(), { status: 'ok' });
  t.is(health.headers['x-me'], 'klive-ops-test-node');
  t.deepEqual(http.leaks([METRICS_TOKEN]), []);

  // Neither token, outside --dev: no control plane, and the log says how to turn it on.
  const off = await start({}, {});
  t.is(off.daemon.controlPlane, undefined);
  t.true(off.lines.some((l) => l.includes('"level":"warn"') && l.includes('set admin.token (KLIVE_ADMIN_TOKEN)')), off.lines.join('\n'));
});

test('an SRT input: diagnostics and the dashboard data show its protocol, RTT, loss and retransmission rates; /metrics has the SRT series', async (t) => {
  t.timeout(60_000);
  const env = await startOpsEnv();
  t.teardown(() => env.stop());
  const http = new OpsClient(env.admin);
  const url = `srt://127.0.0.1:${env.daemon.srtPort}?streamid=#:::e=${ENTRY},st=0,p=${DEMO_ENTRY_TOKEN}`;
  const encoder = start(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-re', '-i', clip.path, '-c', 'copy', '-f', 'mpegts', url], 50_000);
  t.teardown(() => void encoder.child.kill('SIGKILL'));
  const input = await until('the SRT input with link figures', 30_000, async () => {
    const r = (await http.get('/diagnostics/entries', ADMIN_TOKEN)).json<EntriesReport>();
    const i = r.entries.find((x) => x.entryId === ENTRY)?.inputs[0];
    return i?.srt ? i : undefined;
  }, 500);
  t.is(input.protocol, 'srt');
  t.is(input.encoder, 'SRT');
  t.like(input.video, { codec: 'H264', width: 640, height: 360 });
  t.true(input.srt !== undefined && input.srt.rttMs >= 0 && input.srt.lossPercent === 0 && input.srt.retransmitPercent === 0, JSON.stringify(input.srt));
  const { samples } = parsePrometheus((await http.get('/metrics', METRICS_TOKEN)).text);
  t.is(samples.find((s) => s.name === 'klive_publishers_by_protocol' && s.labels.protocol === 'srt')?.value, 1);
  t.true((samples.find((s) => s.name === 'klive_srt_packets' && s.labels.kind === 'received' && s.labels.stream === `${ENTRY}_1`)?.value ?? 0) > 0);
  t.true(samples.some((s) => s.name === 'klive_srt_rtt_seconds' && s.labels.entry === ENTRY));
});
