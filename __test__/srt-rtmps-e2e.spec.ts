/**
 * Issue 14 end to end: a real ffmpeg publishes over SRT (libsrt caller, MPEG-TS) and over
 * RTMPS (RTMP in TLS) to the daemon against the Kaltura emulator. Each plays as HLS (segments
 * probed with ffprobe, hls.js in headless Chromium for SRT), is recorded and delivered to
 * Kaltura, and passes the same checks as RTMP (a wrong token is refused before media). SRT
 * through a relay that drops 5 % of the datagrams both ways yields HLS without a gap: every
 * frame sent is in the segments, timestamps run on without a hole or a discontinuity.
 * The RTMPS certificate is replaced on disk while the server runs: the next connection gets
 * the new one.
 *
 * KLIVE_LONG_TESTS=1 runs the loss scenario for 70 s (≥ 60 s of HLS); by default 24 s.
 */
import test from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { liveAssetId } from '../src/dev';
import { writeSelfSignedCert } from '../src/ingest/native';
import { chromiumMissing, openPlayer, startPageServer } from './helpers/browser';
import { FLAVOR, fetchSegment, fixturesWith, mediaUrl, parseMedia, parseTs, firstPtsMs, getOk, startHlsEnv, STREAM_TYPE, until, waitForSegments, type HlsEnv } from './helpers/hls';
import { FFMPEG, FFPROBE, liveSourceArgs, run, sleep, start, tempDir } from './helpers/media';
import { startLossyRelay } from './helpers/udp-relay';

const LONG = process.env.KLIVE_LONG_TESTS === '1';
const SRT_ENTRY = '0_srte2e01';
const RTMPS_ENTRY = '0_rtmpse01';
const LOSS_ENTRY = '0_srtloss1';

/** A temporary directory removed when the test ends. */
function scratch(t: { teardown: (fn: () => void) => void }, prefix: string): string {
  const dir = tempDir(prefix);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function publish(url: string, seconds: number, format: 'mpegts' | 'flv', rate = 25) {
  return start(FFMPEG, [...liveSourceArgs({ seconds, size: '320x240', rate }), '-f', format, url], (seconds + 60) * 1000);
}

function certFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve(cert.fingerprint256);
    });
    socket.on('error', reject);
  });
}

async function envWithTls(dir: string): Promise<HlsEnv> {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  writeSelfSignedCert(['localhost', '127.0.0.1'], cert, key);
  return startHlsEnv({
    fixtures: fixturesWith([
      { id: SRT_ENTRY, flavorParamsIds: [FLAVOR.source], recordStatus: 1, segmentDuration: 2000 },
      { id: RTMPS_ENTRY, flavorParamsIds: [FLAVOR.source], recordStatus: 1, segmentDuration: 2000 },
      { id: LOSS_ENTRY, flavorParamsIds: [FLAVOR.source], dvrStatus: 1, segmentDuration: 2000 },
    ]),
    srt: { host: '127.0.0.1', port: 0 },
    rtmps: { host: '127.0.0.1', port: 0, certFile: cert, keyFile: key },
    recording: { segmentDurationSeconds: 8, republishGraceSeconds: 2 },
  });
}

async function probeSegment(env: HlsEnv, stream: string, dir: string): Promise<{ codecs: string[]; width?: number }> {
  const playlist = await waitForSegments(env.origin, stream, 2, 45_000);
  const data = await fetchSegment(env.origin, stream, playlist.segments[0]);
  const file = join(dir, `${stream}.ts`);
  writeFileSync(file, data);
  const r = await run(FFPROBE, ['-v', 'error', '-of', 'json', '-show_streams', file], 30_000);
  const o = JSON.parse(r.stdout) as { streams: Array<{ codec_name: string; width?: number }> };
  return { codecs: o.streams.map((s) => s.codec_name).sort(), width: o.streams.find((s) => s.width)?.width };
}

test('SRT and RTMPS publishes play as HLS, record, and are refused with a wrong token', async (t) => {
  t.timeout(240_000);
  const dir = scratch(t, 'rtmps-cert');
  const env = await envWithTls(dir);
  t.teardown(() => env.stop());

  const srt = publish(env.srtUrl(SRT_ENTRY), 30, 'mpegts');
  const rtmps = publish(env.rtmpsUrl(RTMPS_ENTRY), 30, 'flv');
  t.teardown(() => {
    srt.child.kill('SIGKILL');
    rtmps.child.kill('SIGKILL');
  });

  for (const entry of [SRT_ENTRY, RTMPS_ENTRY]) {
    const probed = await probeSegment(env, `${entry}_${FLAVOR.source}`, dir);
    t.deepEqual(probed.codecs, ['aac', 'h264', 'timed_id3'], `${entry}: H.264 + AAC (and Kaltura's ID3 sync points) in the HLS segments`);
    t.is(probed.width, 320);
  }
  const protocols = env.daemon.ingest.stats().connections.filter((c) => c.role === 'publisher').map((c) => `${c.streamName}:${c.protocol}`).sort();
  t.deepEqual(protocols, [`${RTMPS_ENTRY}_1:rtmps`, `${SRT_ENTRY}_1:srt`]);

  // hls.js in Chromium plays the SRT-fed stream.
  const missing = chromiumMissing();
  if (missing) t.fail(missing);
  else {
    const pages = await startPageServer();
    t.teardown(() => pages.close());
    const player = await openPlayer(pages, mediaUrl(env.origin, `${SRT_ENTRY}_${FLAVOR.source}`));
    t.teardown(() => player.close());
    const playing = await until('hls.js to play 3 s of the SRT stream', 45_000, async () => {
      const s = await player.snapshot();
      const fatal = s.errors.find((e) => e.fatal);
      if (fatal) throw new Error(`hls.js fatal error: ${JSON.stringify(fatal)}`);
      return s.currentTime >= 3 ? s : undefined;
    }, 250);
    t.true(playing.currentTime >= 3);
  }

  // Recorded: segments of both entries reach Kaltura (appendRecording).
  for (const entry of [RTMPS_ENTRY, SRT_ENTRY]) {
    await until(`a recording of ${entry} delivered`, 90_000, () => env.emulator.receivedRecordings(entry, liveAssetId(entry, FLAVOR.source)).length >= 1, 500).catch((e: Error) => {
      throw new Error(`${e.message}; log: ${env.lines.filter((l) => l.includes(entry) && /record|segment|pipeline|unpublish|metadata/.test(l)).slice(-12).join('\n')}`);
    });
    t.pass(`${entry} recorded`);
  }

  // A wrong token over RTMPS is refused like over RTMP; the refusal is listed.
  const before = env.daemon.refusals().length;
  const wrong = publish(env.rtmpsUrl(RTMPS_ENTRY, 'wrongtoken'), 5, 'flv');
  const r = await wrong.done;
  t.not(r.code, 0);
  t.true(env.daemon.refusals().slice(before).some((x) => /token/i.test(x.message) && x.entryId === RTMPS_ENTRY));
});

test('RTMPS: a certificate replaced on disk is served to the next connection without a restart', async (t) => {
  t.timeout(60_000);
  const dir = scratch(t, 'rtmps-reload');
  const env = await envWithTls(dir);
  t.teardown(() => env.stop());
  const port = env.daemon.rtmpsPort as number;
  const first = await certFingerprint(port);
  t.is(await certFingerprint(port), first, 'the same certificate while the files are unchanged');
  await sleep(1100); // a new modification time even on coarse file systems
  writeSelfSignedCert(['localhost', '127.0.0.1'], join(dir, 'cert.pem'), join(dir, 'key.pem'));
  const second = await certFingerprint(port);
  t.not(second, first, 'the new certificate');
  // A broken file keeps the last good certificate.
  await sleep(1100);
  writeFileSync(join(dir, 'cert.pem'), 'not a certificate');
  t.is(await certFingerprint(port), second);
});

test('SRT with 5 % random loss both ways: the HLS output has no gap', async (t) => {
  const seconds = LONG ? 70 : 24;
  t.timeout((seconds + 120) * 1000);
  const dir = scratch(t, 'srt-loss');
  const env = await envWithTls(dir);
  t.teardown(() => env.stop());
  const relay = await startLossyRelay({ host: '127.0.0.1', port: env.daemon.srtPort as number }, 0.05);
  t.teardown(() => relay.close());
  const rate = 25;
  const encoder = publish(`srt://127.0.0.1:${relay.port}?connect_timeout=15000&latency=1000000&streamid=#:::e=${LOSS_ENTRY},st=0,p=demotoken`, seconds, 'mpegts', rate);
  t.teardown(() => void encoder.child.kill('SIGKILL'));
  const stream = `${LOSS_ENTRY}_${FLAVOR.source}`;

  // While it runs, the link reports loss and recovery.
  const link = await until('SRT loss and retransmissions in the stats', (seconds + 30) * 1000, () => {
    const c = env.daemon.ingest.stats().connections.find((x) => x.protocol === 'srt' && x.streamName === `${LOSS_ENTRY}_1`);
    return c?.srt && c.srt.packetsLost > 0 && c.srt.packetsRetransmitted > 0 ? c.srt : undefined;
  }, 500);
  t.true(link.lossPercent > 0);

  const result = await encoder.done;
  t.is(result.code, 0, `the encoder ran to the end: ${result.stderr}`);
  t.true(relay.counts().dropped > 0, 'the relay dropped datagrams');
  await sleep(4000); // the last segment closes
  const playlist = parseMedia((await getOk(mediaUrl(env.origin, stream, '?DVR'))).toString('utf8'));
  const segments = playlist.segments;
  const total = segments.reduce((s, x) => s + x.duration, 0);
  t.true(total >= seconds - 6, `≥ ${seconds - 6} s of HLS, got ${total.toFixed(1)} s`);
  t.false(segments.some((s) => s.discontinuity), 'no discontinuity');
  // Each segment starts where the previous one ended (video PTS): no hole in the timeline.
  const starts: number[] = [];
  const all: Buffer[] = [];
  for (const seg of segments) {
    const data = await fetchSegment(env.origin, stream, seg);
    all.push(data);
    const pts = firstPtsMs(parseTs(data), STREAM_TYPE.h264);
    if (pts !== undefined) starts.push(pts);
  }
  t.is(starts.length, segments.length);
  for (let i = 1; i < starts.length; i++) {
    const step = starts[i] - starts[i - 1];
    const expected = segments[i - 1].duration * 1000;
    t.true(Math.abs(step - expected) <= 100, `segment ${i}: starts ${step} ms after the previous, which lasts ${expected} ms`);
  }
  // Every frame is there: the decoded frame count matches the duration, and decoding is clean.
  const file = join(dir, 'all.ts');
  writeFileSync(file, Buffer.concat(all));
  const probe = await run(FFPROBE, ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'json', file], 120_000);
  const frames = Number((JSON.parse(probe.stdout) as { streams: Array<{ nb_read_frames?: string }> }).streams[0]?.nb_read_frames);
  t.true(Math.abs(frames - total * rate) <= rate / 2 + 1, `${frames} frames in ${total.toFixed(2)} s at ${rate} fps`);
  const decode = await run(FFMPEG, ['-v', 'error', '-i', file, '-f', 'null', '-'], 120_000);
  t.is(decode.stderr.trim(), '', 'decodes without an error');
  t.log(`loss: relay dropped ${relay.counts().dropped} of ${relay.counts().dropped + relay.counts().forwarded} datagrams; SRT ${JSON.stringify(link)}`);
});
