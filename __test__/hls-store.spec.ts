/**
 * Issue 16: the HLS segment store. A real ffmpeg encoder publishes to the RTMP core; the
 * origin is read over real HTTP and the segments with ffprobe. The live edge stays in memory,
 * the rest of the DVR window goes to files under the store's directory:
 * - the DVR playlist lists the whole window and segments from its start, middle and end
 *   (served from disk) decode, with range requests and immutable caching;
 * - after kill -9 and a restart on the same directory nothing stale is on disk or served, and
 *   playback resumes;
 * - a full disk (a small tmpfs) never stops live HLS: the DVR window shortens, the store
 *   reports the error, and the DVR window grows again once space returns.
 *
 * Bounded: encoders run a fixed time and are killed at teardown, every wait has a deadline.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RtmpIngest } from '../src/ingest/rtmp-ingest';
import { httpRequest, mediaUrl, parseMedia, publishDetailed, until, type MediaPlaylist } from './helpers/hls';
import { probe, tempDir, type Running } from './helpers/media';

const STREAM = 'live_1';
const TARGET_MS = 1000;

function stopEncoder(t: ExecutionContext, encoder: Running): void {
  t.teardown(() => {
    encoder.child.kill('SIGKILL');
  });
}

async function playlist(origin: string, dvr: boolean): Promise<MediaPlaylist | undefined> {
  const r = await httpRequest(mediaUrl(origin, STREAM, dvr ? '?DVR' : ''));
  return r.status === 200 ? parseMedia(r.body.toString('utf8')) : undefined;
}

/** Segment files under a store directory (every stream subdirectory). */
function segmentFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join(dir, d.name)).map((f) => join(d.name, f)));
}

async function ffprobeSegment(t: ExecutionContext, origin: string, uri: string, dir: string): Promise<void> {
  const r = await httpRequest(`${origin}/kLive/${STREAM}/${uri}`);
  t.is(r.status, 200, uri);
  t.is(r.headers['cache-control'], 'max-age=86400, immutable');
  const file = join(dir, uri);
  writeFileSync(file, r.body);
  const p = await probe(file);
  t.true(p.streams.some((s) => s.codec_name === 'h264') && p.streams.some((s) => s.codec_name === 'aac'), `${uri}: ${JSON.stringify(p.streams)}`);
  t.true(p.videoPackets >= 20, `${uri}: ${p.videoPackets} video packets`);
  t.true(p.audioPackets >= 20, `${uri}: ${p.audioPackets} audio packets`);
}

test('the DVR window is listed whole, lives on disk past the live edge, and its start, middle and end decode', async (t) => {
  const dir = tempDir('store-dvr');
  const work = tempDir('store-dvr-work');
  const budget = 256 * 1024;
  const ingest = await RtmpIngest.start({ host: '127.0.0.1', port: 0, hlsDirectory: dir, hlsMemoryBudgetBytes: budget });
  t.teardown(() => ingest.close());
  ingest.startHls(STREAM, { targetDurationMs: TARGET_MS, dvrWindowMs: 600_000 });
  const origin = `http://127.0.0.1:${ingest.port}`;
  const encoder = publishDetailed(`rtmp://127.0.0.1:${ingest.port}/kLive/${STREAM}`, { seconds: 40, size: '640x360', videoKbps: 800 });
  stopEncoder(t, encoder);

  const dvr = await until('24 DVR segments', 90_000, async () => {
    const p = await playlist(origin, true);
    return p !== undefined && p.segments.length >= 24 ? p : undefined;
  }, 250);
  const live = await playlist(origin, false);
  if (!live) return t.fail('no live playlist');
  t.true(live.segments.length <= 10, `live lists ${live.segments.length}`);
  // The whole window since the first segment: contiguous numbers, about a second each.
  const first = dvr.segments[0].seq;
  t.deepEqual(dvr.segments.map((s) => s.seq), dvr.segments.map((_, i) => first + i));
  for (const s of dvr.segments.slice(0, -1)) t.true(s.duration > 0.5 && s.duration < 1.6, `seg ${s.seq}: ${s.duration} s`);
  t.true(live.segments.every((s) => dvr.segments.some((d) => d.uri === s.uri)));

  // Past the live edge the segments are files, and the memory budget holds.
  const store = await until('segments on disk', 20_000, () => {
    const s = ingest.hlsStore();
    return s.diskSegments >= 14 ? s : undefined;
  });
  t.is(store.directory, dir);
  t.falsy(store.error);
  t.true(store.earlySpills > 0, JSON.stringify(store));
  t.true(store.memoryBytes <= budget + 2 * 1024 * 1024, JSON.stringify(store));
  t.true(segmentFiles(dir).length >= 14);

  const middle = dvr.segments[Math.floor(dvr.segments.length / 2)];
  for (const s of [dvr.segments[0], middle, dvr.segments[dvr.segments.length - 1]]) await ffprobeSegment(t, origin, s.uri, work);

  // A byte range of a segment served from disk.
  const range = await httpRequest(`${origin}/kLive/${STREAM}/${dvr.segments[0].uri}`, { headers: { Range: 'bytes=188-375' } });
  t.is(range.status, 206);
  t.is(range.body.length, 188);
  t.is(range.body[0], 0x47);
  t.regex(String(range.headers['content-range']), /^bytes 188-375\/\d+$/);
  const dvrHeaders = await httpRequest(mediaUrl(origin, STREAM, '?DVR'));
  t.is(dvrHeaders.headers['cache-control'], 'max-age=1');
});

interface Child {
  process: ChildProcess;
  port: number;
}

/** The store child (helpers/hls-store-child.ts) on `dir`; killed at teardown. */
async function startChild(t: ExecutionContext, dir: string): Promise<Child> {
  const child = spawn(process.execPath, ['--import=tsx', join(__dirname, 'helpers', 'hls-store-child.ts'), dir, String(256 * 1024)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not start: ${err}`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', () => reject(new Error(`child exited: ${err}`)));
  });
  return { process: child, port };
}

test('after kill -9 a restart on the same directory clears it, serves nothing stale, and plays again', async (t) => {
  const dir = tempDir('store-kill');
  const first = await startChild(t, dir);
  const origin1 = `http://127.0.0.1:${first.port}`;
  const encoder1 = publishDetailed(`rtmp://127.0.0.1:${first.port}/kLive/${STREAM}`, { seconds: 60, size: '640x360', videoKbps: 800 });
  stopEncoder(t, encoder1);
  const before = await until('16 DVR segments', 90_000, async () => {
    const p = await playlist(origin1, true);
    return p !== undefined && p.segments.length >= 16 ? p : undefined;
  }, 250);
  await until('segment files', 20_000, () => segmentFiles(dir).length >= 4);
  first.process.kill('SIGKILL');
  encoder1.child.kill('SIGKILL');
  await new Promise((resolve) => first.process.once('exit', resolve));
  t.true(segmentFiles(dir).length >= 4, 'the killed server left its files');

  const second = await startChild(t, dir);
  const origin2 = `http://127.0.0.1:${second.port}`;
  t.deepEqual(segmentFiles(dir), [], 'cleared at start');
  t.deepEqual(readdirSync(dir), ['.klive-hls-store']);
  t.is((await httpRequest(mediaUrl(origin2, STREAM, '?DVR'))).status, 404);
  for (const s of [before.segments[0], before.segments[before.segments.length - 1]]) {
    t.is((await httpRequest(`${origin2}/kLive/${STREAM}/${s.uri}`)).status, 404, `stale ${s.uri}`);
  }
  const encoder2 = publishDetailed(`rtmp://127.0.0.1:${second.port}/kLive/${STREAM}`, { seconds: 40, size: '640x360', videoKbps: 800 });
  stopEncoder(t, encoder2);
  const after = await until('DVR segments again', 90_000, async () => {
    const p = await playlist(origin2, true);
    return p !== undefined && p.segments.length >= 14 ? p : undefined;
  }, 250);
  const oldUris = new Set(before.segments.map((s) => s.uri));
  t.true(after.segments.every((s) => !oldUris.has(s.uri)), 'only segments of this run are listed');
  t.true(after.segments[0].seq > before.segments[before.segments.length - 1].seq);
  const oldest = await httpRequest(`${origin2}/kLive/${STREAM}/${after.segments[0].uri}`);
  t.is(oldest.status, 200);
  t.is(oldest.body[0], 0x47);
});

function mountTmpfs(dir: string, size: string): string | undefined {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `mount failed: ${r.stderr || r.error?.message}`;
}

test('a full disk keeps live HLS advancing, shortens the DVR window with an error, and recovers', async (t) => {
  const dir = tempDir('store-full');
  const refused = mountTmpfs(dir, '1m');
  if (refused !== undefined) {
    t.log(`${refused}: needs root (tmpfs)`);
    return t.pass();
  }
  t.teardown(() => {
    spawnSync('umount', ['-l', dir]);
  });
  const ingest = await RtmpIngest.start({ host: '127.0.0.1', port: 0, hlsDirectory: dir });
  t.teardown(() => ingest.close());
  ingest.startHls(STREAM, { targetDurationMs: TARGET_MS, dvrWindowMs: 600_000 });
  const origin = `http://127.0.0.1:${ingest.port}`;
  const encoder = publishDetailed(`rtmp://127.0.0.1:${ingest.port}/kLive/${STREAM}`, { seconds: 75, size: '640x360', videoKbps: 1200 });
  stopEncoder(t, encoder);

  const failing = await until('the disk-full error', 60_000, () => {
    const s = ingest.hlsStore();
    return s.error && s.lostSegments > 0 ? s : undefined;
  }, 200);
  t.regex(failing.error ?? '', /DVR window shortened/);
  t.regex(failing.error ?? '', /No space left|space/i);
  // Live goes on: the live playlist keeps advancing while the disk is full.
  const liveBefore = await playlist(origin, false);
  if (!liveBefore) return t.fail('no live playlist');
  const lastBefore = liveBefore.segments[liveBefore.segments.length - 1].seq;
  const liveAfter = await until('live HLS advancing on a full disk', 30_000, async () => {
    const p = await playlist(origin, false);
    return p !== undefined && p.segments[p.segments.length - 1].seq >= lastBefore + 3 ? p : undefined;
  }, 250);
  for (const s of liveAfter.segments.slice(-3)) {
    const r = await httpRequest(`${origin}/kLive/${STREAM}/${s.uri}`);
    t.is(r.status, 200, `live ${s.uri} on a full disk`);
  }
  // (The error may clear for a moment when a smaller segment still fits: it reports the last write.)
  t.true(ingest.hlsStore().lostSegments >= failing.lostSegments);
  // The DVR window was shortened rather than left listing segments that are gone: it starts
  // after the newest lost one, so its first segment is servable.
  const shortened = await playlist(origin, true);
  if (!shortened) return t.fail('no DVR playlist');
  t.is((await httpRequest(`${origin}/kLive/${STREAM}/${shortened.segments[0].uri}`)).status, 200);

  // Space returns: writes succeed again, the error clears, and the DVR window grows past the
  // live edge once more, every listed segment servable.
  const grown = spawnSync('mount', ['-o', 'remount,size=256m', dir], { encoding: 'utf8' });
  t.is(grown.status, 0, grown.stderr);
  const recovered = await until('the DVR window growing again', 60_000, async () => {
    const p = await playlist(origin, true);
    return !ingest.hlsStore().error && p !== undefined && p.segments.length >= 14 ? p : undefined;
  }, 250);
  const seqs = recovered.segments.map((s) => s.seq);
  t.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i));
  for (const s of [recovered.segments[0], recovered.segments[Math.floor(recovered.segments.length / 2)]]) {
    const r = await httpRequest(`${origin}/kLive/${STREAM}/${s.uri}`);
    t.is(r.status, 200, `DVR ${s.uri} after recovery`);
  }
  t.true(ingest.hlsStore().diskSegments > 0);
});

test('a publisher that sends no keyframes gets segments cut at the hard cap, behind discontinuities', async (t) => {
  const ingest = await RtmpIngest.start({ host: '127.0.0.1', port: 0 });
  t.teardown(() => ingest.close());
  ingest.startHls(STREAM, { targetDurationMs: TARGET_MS });
  const origin = `http://127.0.0.1:${ingest.port}`;
  // One IDR frame at the start, then none: without the cap the first segment grows forever.
  const encoder = publishDetailed(`rtmp://127.0.0.1:${ingest.port}/kLive/${STREAM}`, { seconds: 20, size: '320x180', videoKbps: 300, gop: 100_000 });
  stopEncoder(t, encoder);
  const p = await until('3 capped segments', 60_000, async () => {
    const live = await playlist(origin, false);
    return live !== undefined && live.segments.length >= 3 ? live : undefined;
  }, 250);
  for (const s of p.segments) t.true(s.duration <= 3 * (TARGET_MS / 1000) + 0.1, `seg ${s.seq}: ${s.duration} s`);
  t.true(p.segments.slice(1).every((s) => s.discontinuity), 'cut without a keyframe: marked as a discontinuity');
  const r = await httpRequest(`${origin}/kLive/${STREAM}/${p.segments[1].uri}`);
  t.is(r.status, 200);
  t.is(r.body[0], 0x47);
});
