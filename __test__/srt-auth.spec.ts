/**
 * Issue 14: SRT publishers pass the same Kaltura checks as RTMP ones. A real ffmpeg (libsrt
 * caller) publishes with Kaltura's stream id (`#:::e=<entry>,st=0,p=<password>`, or
 * `ep=<encrypted SRT pass>` with the SRT passphrase set) to the daemon against the emulator:
 * the right token is admitted through liveStream.authenticate and the stream goes live as
 * `<entry>_1`; a wrong password, an unknown entry, a stream id without an entry and a wrong
 * passphrase are refused during the SRT handshake, before any media (no stream, no bytes),
 * with the reason in the refusal list.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DECISIONS_FILE } from '../src/kaltura/decision-store';
import { srtRejectCode } from '../src/kaltura/auth/gates';
import { encryptedSrtPass, srtStreamId } from '../src/dev/srt-pass';
import { DEMO_ENTRY_TOKEN } from '../src/dev';
import { FLAVOR, fixturesWith, startHlsEnv, until, type HlsEnv } from './helpers/hls';
import { FFMPEG, liveSourceArgs, start, type RunResult } from './helpers/media';

const ENTRY = '0_srtauth1';
const SECURE = '0_srtauth2';
const SRT_PASS = 'srt-pass-of-the-entry';

function publishSrt(url: string, seconds: number, passphrase?: string) {
  const target = passphrase ? `${url}&passphrase=${encodeURIComponent(passphrase)}` : url;
  return start(FFMPEG, [...liveSourceArgs({ seconds, size: '320x240', rate: 25 }), '-f', 'mpegts', target], 60_000);
}

async function withEnv(): Promise<HlsEnv> {
  return startHlsEnv({
    fixtures: fixturesWith([
      { id: ENTRY, flavorParamsIds: [FLAVOR.source] },
      { id: SECURE, flavorParamsIds: [FLAVOR.source], srtPass: SRT_PASS },
    ]),
    srt: { host: '127.0.0.1', port: 0 },
  });
}

/** Refused before media: ffmpeg fails to connect, the daemon never had the stream. */
async function assertRefused(t: import('ava').ExecutionContext, env: HlsEnv, url: string, message: RegExp, passphrase?: string): Promise<RunResult> {
  const before = env.daemon.refusals().length;
  const encoder = publishSrt(url, 10, passphrase);
  const result = await encoder.done;
  t.not(result.code, 0, `ffmpeg must fail to connect: ${result.stderr}`);
  t.regex(result.stderr, /reject|Connection setup failure|Operation not permitted|Input\/output error/i, 'ffmpeg reports the refusal');
  const refusals = env.daemon.refusals().slice(before);
  if (passphrase === undefined) {
    t.true(refusals.some((r) => message.test(r.message)), `a refusal matching ${message}: ${JSON.stringify(refusals)}`);
  }
  t.false(env.daemon.ingest.stats().streams.some((s) => s.name.startsWith(ENTRY) || s.name.startsWith(SECURE)), 'no stream went live');
  return result;
}

test('the right stream password is admitted through liveStream.authenticate; the stream is <entry>_1', async (t) => {
  t.timeout(90_000);
  const env = await withEnv();
  t.teardown(() => env.stop());
  const encoder = publishSrt(env.srtUrl(ENTRY), 20);
  t.teardown(() => void encoder.child.kill('SIGKILL'));
  const codecs = await env.daemon.ingest.waitFor('codecInfo', (e) => e.streamName === `${ENTRY}_1` && e.video !== null && e.video !== undefined && e.audio !== null && e.audio !== undefined);
  t.is(codecs.video?.codec, 'H264');
  t.is(codecs.video?.width, 320);
  t.is(codecs.video?.height, 240);
  t.is(codecs.audio?.codec, 'AAC');
  t.is(codecs.audio?.sampleRate, 44100);
  const conn = await until('the SRT publisher in the stats', 10_000, () =>
    env.daemon.ingest.stats().connections.find((c) => c.streamName === `${ENTRY}_1` && c.videoFrames > 25),
  );
  t.is(conn.protocol, 'srt');
  t.is(conn.role, 'publisher');
  t.truthy(conn.srt, 'SRT link statistics');
  const auth = env.daemon.auth.connection(conn.id);
  t.is(auth?.entryId, ENTRY);
  t.is(auth?.serverIndex, 0);
  t.deepEqual(env.daemon.refusals(), []);
  // Kaltura saw the authentication of this entry on this host as the primary.
  t.true(env.lines.some((l) => l.includes('"publish accepted"') && l.includes(ENTRY)));
});

test('a wrong password, an unknown entry and a stream id without an entry are refused before any media', async (t) => {
  t.timeout(120_000);
  const env = await withEnv();
  t.teardown(() => env.stop());
  await assertRefused(t, env, env.srtUrl(ENTRY, `#:::e=${ENTRY},st=0,p=wrongpassword`), /LIVE_STREAM_INVALID_TOKEN|invalid token|token/i);
  await assertRefused(t, env, env.srtUrl('0_nosuch99', `#:::e=0_nosuch99,st=0,p=${DEMO_ENTRY_TOKEN}`), /ENTRY_ID_NOT_FOUND|not found/i);
  await assertRefused(t, env, env.srtUrl(ENTRY, '#!::r=live/stream'), /Missing argument: entryId/);
  // Each refusal is listed with its stage, code and a masked URL.
  const refusals = env.daemon.refusals();
  t.true(refusals.length >= 3);
  for (const r of refusals) {
    t.false(r.url.includes('wrongpassword'), `token masked in ${r.url}`);
    t.is(r.ip, '127.0.0.1');
  }
  // The refused peers never published: no connection ever reached the publisher role.
  t.false(env.lines.some((l) => l.includes('"publish accepted"')));
});

test('an entry with an SRT pass: the encrypted pass is the token and the pass is the passphrase', async (t) => {
  t.timeout(120_000);
  const env = await withEnv();
  t.teardown(() => env.stop());
  const streamId = srtStreamId(SECURE, 0, DEMO_ENTRY_TOKEN, SRT_PASS);
  t.regex(streamId, new RegExp(`^#:::e=${SECURE},st=0,ep=[A-Za-z0-9_-]+$`));
  t.is(streamId.split('ep=')[1], encryptedSrtPass(SRT_PASS));

  // A wrong passphrase cannot complete the encrypted handshake: refused, no media.
  await assertRefused(t, env, env.srtUrl(SECURE, streamId), /./, 'not-the-right-pass');

  const encoder = publishSrt(env.srtUrl(SECURE, streamId), 20, SRT_PASS);
  t.teardown(() => void encoder.child.kill('SIGKILL'));
  const codecs = await env.daemon.ingest.waitFor('codecInfo', (e) => e.streamName === `${SECURE}_1` && e.video !== null && e.video !== undefined);
  t.is(codecs.video?.codec, 'H264');
  await until('encrypted media to flow', 15_000, () => env.daemon.ingest.stats().connections.find((c) => c.streamName === `${SECURE}_1` && c.videoFrames > 25));
  encoder.child.kill('SIGKILL');
  await env.daemon.ingest.waitFor('unpublish', (e) => e.streamName === `${SECURE}_1`);

  // The encoder reconnects at once: Kaltura's answer of seconds ago is reused, with the pass.
  const again = publishSrt(env.srtUrl(SECURE, streamId), 20, SRT_PASS);
  t.teardown(() => void again.child.kill('SIGKILL'));
  await until('the reconnected encrypted publisher', 20_000, () => env.daemon.ingest.stats().connections.find((c) => c.streamName === `${SECURE}_1` && c.videoFrames > 25));
  t.true(env.lines.some((l) => l.includes('"authentication reused"') && l.includes(SECURE)), 'admitted from the 10 s reuse');
  again.child.kill('SIGKILL');
  await env.stop();
  // The SRT pass is a credential: the decisions file kept for Kaltura outages never holds it.
  const decisions = readFileSync(join(env.daemon.config.recording.stateDirectory, DECISIONS_FILE), 'utf8');
  t.true(decisions.includes(SECURE), 'the admission is on disk');
  t.false(decisions.includes(SRT_PASS), 'without the SRT pass');
});

test('refusal codes map to SRT reject codes an encoder can show', (t) => {
  t.is(srtRejectCode({ code: 'MISSING_ARGUMENT' }), 2400);
  t.is(srtRejectCode({ code: 'KALTURA_REFUSED', kalturaCode: 'LIVE_STREAM_INVALID_TOKEN' }), 2401);
  t.is(srtRejectCode({ code: 'KALTURA_REFUSED', kalturaCode: 'ENTRY_ID_NOT_FOUND' }), 2404);
  t.is(srtRejectCode({ code: 'BLOCKED' }), 2402);
  t.is(srtRejectCode({ code: 'KALTURA_UNAVAILABLE' }), 2503);
});
