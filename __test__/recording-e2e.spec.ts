/**
 * Issue 6 end to end: real ffmpeg encoders publish to the daemon, the Rust recorder writes
 * fragmented MP4 segments on the wall-clock timeline, and the delivery queue hands them to the
 * embedded Kaltura emulator (appendRecording with a server file, or uploadToken in eCDN
 * mode). What Kaltura received is checked against the local files with ffprobe.
 *
 * The long scenarios keep their point at a fraction of the time: 20 s segments instead of
 * 60 s, a 30 s Kaltura outage instead of 2 minutes, a 5-15 s republish grace instead of 30 s.
 * KLIVE_LONG_TESTS=1 runs them at full length. Every wait has a deadline and every encoder a
 * time limit.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { liveAssetId, startKalturaEmulator, DEMO_ADMIN_SECRET, DEMO_ENTRY_TOKEN, MEDIA_SERVER_ADMIN_SECRET } from '../src/dev';
import { RtmpIngest } from '../src/ingest/rtmp-ingest';
import type { ReceivedRecordingChunk } from '../src/dev/received-recordings';
import {
  FLAVOR,
  HLS_TEST_HOST,
  fetchMedia,
  fixturesWith,
  httpRequest,
  parseMedia,
  parseTs,
  publishDetailed,
  startHlsEnv,
  syncPoints,
  firstPtsMs,
  STREAM_TYPE,
  until,
  type HlsEnv,
} from './helpers/hls';
import { FFMPEG, FFPROBE, run, sleep, tempDir } from './helpers/media';

const BIN = join(__dirname, '..', 'bin', 'klive-server.js');
/** KLIVE_LONG_TESTS=1: the full-length variants (3-minute publish, 2-minute outage). */
const LONG = process.env.KLIVE_LONG_TESTS === '1';

interface Probed {
  codecs: string[];
  durationS: number;
}

/** Audio and video codecs (the sync-point data track is looked at by syncPointsOf). */
async function probe(path: string): Promise<Probed> {
  const r = await run(FFPROBE, ['-v', 'error', '-of', 'json', '-show_streams', '-show_format', path], 60_000);
  if (r.code !== 0) throw new Error(`ffprobe ${path}: ${r.stderr}`);
  const o = JSON.parse(r.stdout) as { streams: Array<{ codec_name: string; codec_type: string }>; format: { duration?: string } };
  const media = o.streams.filter((s) => s.codec_type === 'audio' || s.codec_type === 'video');
  return { codecs: media.map((s) => s.codec_name).sort(), durationS: Number(o.format.duration ?? NaN) };
}

interface RecordedSyncPoint {
  /** Packet time in the file, ms. */
  pts: number;
  id: string;
  /** The AMF `timestamp`: timeline (wall-clock) ms. */
  timestamp: number;
}

/**
 * The sync points of a recorded MP4 as Kaltura's convert-segment batch reads them
 * (kaltura/server KAMFMediaInfoParser): ffprobe's packets of data stream `index`
 * (2 after video and audio) with their bytes, in which "KalturaSyncPoint" and the number after
 * "timestamp" are found. Also checks the stream is an AMF0 data track.
 */
async function syncPointsOf(path: string, index: number): Promise<RecordedSyncPoint[]> {
  const r = await run(FFPROBE, ['-v', 'error', '-select_streams', String(index), '-show_streams', '-show_packets', '-show_data', '-of', 'json', path], 60_000);
  if (r.code !== 0) throw new Error(`ffprobe ${path}: ${r.stderr}`);
  const o = JSON.parse(r.stdout) as { streams: Array<{ codec_type: string; codec_tag_string: string }>; packets?: Array<{ pts: number; data: string }> };
  if (o.streams[0]?.codec_type !== 'data' || o.streams[0]?.codec_tag_string !== 'amf0') throw new Error(`${path}: stream ${index} is ${JSON.stringify(o.streams[0])}`);
  return (o.packets ?? []).map((p) => {
    // ffprobe's hex dump: "00000000: 0200 136f 6e4d ...  ...onM" per 16 bytes.
    const bytes = Buffer.from(p.data.split('\n').map((l) => l.slice(10, 49).replace(/ /g, '')).join(''), 'hex');
    const text = bytes.toString('latin1');
    if (!text.includes('onMetaDataRecording') || !text.includes('KalturaSyncPoint')) throw new Error(`not a sync point: ${text}`);
    const at = bytes.indexOf('timestamp') + 'timestamp'.length;
    const idAt = bytes.indexOf('\x00\x02id\x02', 0, 'latin1') + 5;
    return { pts: p.pts, id: bytes.toString('latin1', idAt + 2, idAt + 2 + bytes.readUInt16BE(idAt)), timestamp: bytes.readDoubleBE(at + 1) };
  });
}

/**
 * A group for `recording.fileGroup` that is not the process's own: a supplementary group it
 * belongs to, or (as root, which may give files to any group) any other group.
 */
function otherGroup(): { name: string; gid: number } | undefined {
  const groups = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[2]))
    .map((f) => ({ name: f[0], gid: Number(f[2]) }));
  const egid = process.getegid?.() ?? -1;
  const mine = new Set(process.getgroups?.() ?? []);
  return groups.find((g) => g.gid !== egid && mine.has(g.gid)) ?? (process.getuid?.() === 0 ? groups.find((g) => g.gid !== egid) : undefined);
}

/** Decoding the whole file reports no error. */
async function decodesCleanly(path: string): Promise<boolean> {
  const r = await run(FFMPEG, ['-v', 'error', '-i', path, '-f', 'null', '-'], 120_000);
  return r.code === 0 && r.stderr.trim() === '';
}

function chunksOf(env: HlsEnv, entryId: string, flavor: number): ReceivedRecordingChunk[] {
  return env.emulator.receivedRecordings(entryId, liveAssetId(entryId, flavor));
}

function bytesOf(chunk: ReceivedRecordingChunk): Buffer {
  if (chunk.data) return chunk.data;
  if (chunk.storedPath) return readFileSync(chunk.storedPath);
  throw new Error(`chunk ${chunk.n} kept no content`);
}

function logEvents(env: HlsEnv, msg: string): Array<Record<string, unknown>> {
  return env.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.msg === msg);
}

interface BinServer {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
  /** stdout and stderr so far. */
  output(): string;
}

/** `klive-server --config FILE` as a separate process (killed at teardown), once it listens. */
async function startBin(t: ExecutionContext, configFile: string): Promise<BinServer> {
  const child = spawn(process.execPath, [BIN, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KLIVE_'))) });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const port = await until('the daemon listening', 30_000, () => Number(/"rtmp":"127\.0\.0\.1:(\d+)"/.exec(out)?.[1] ?? NaN) || undefined);
  return { child, port, exited, output: () => out };
}

/** Start ms of a segment file, from its name `<stream>-<start>.mp4`. */
function startOf(path: string): number {
  return Number(path.slice(path.lastIndexOf('-') + 1).replace(/\.mp4$/, ''));
}

test(`a ${LONG ? '3-minute' : '1-minute'} recorded publish: 3 MP4 segments per rendition, each appended once, sync points over RTMP and in HLS`, async (t) => {
  // Segments (and sync points) every 20 s, 60 s with KLIVE_LONG_TESTS=1.
  const segmentS = LONG ? 60 : 20;
  t.timeout((LONG ? 330 : 180) * 1000);
  const ENTRY = '0_recfull1';
  const renditions = [FLAVOR.source, FLAVOR.sd480, FLAVOR.sd360, FLAVOR.audioOnly];
  const group = otherGroup();
  if (!group) t.log('no group other than the process group can be given files here: recording.fileGroup checked with the own group');
  const fileGroup = group ?? { name: String(process.getegid?.() ?? 0), gid: process.getegid?.() ?? 0 };
  // Sync points on the segment length's grid (the wall clock's), segments cut on the entry's:
  // a segment holds its start's sync point and usually one from inside.
  const syncS = segmentS;
  const env = await startHlsEnv({
    fixtures: fixturesWith([{ id: ENTRY, flavorParamsIds: renditions, recordStatus: 1, recordedEntryId: '0_vodrec01', dvrStatus: 1 }]),
    recording: { segmentDurationSeconds: segmentS, syncPointIntervalSeconds: syncS, republishGraceSeconds: 5, fileGroup: fileGroup.name },
  });
  t.teardown(() => env.stop());
  // Just under 3 segments: a publish that ends exactly on a segment boundary would leave the
  // audio transcoder's last padded AAC frame (encoder delay, written as it drains) alone in a
  // 20 ms fourth segment.
  const publishS = 3 * segmentS - 2;
  const started = Date.now();
  const encoder = publishDetailed(env.publishUrl(ENTRY), { seconds: publishS, size: '854x480', rate: 25, videoKbps: 1800, noise: 0 }, (publishS + 60) * 1000);
  t.teardown(() => encoder.child.kill('SIGKILL'));
  // 1800 kbit/s: above the 480p flavor's 1200 by the 40 % Kaltura requires to keep an optional flavor.
  // An RTMP player on the source for most of the publish (ffmpeg, which logs each data message
  // it does not know at trace level; rtmpdump drops them): the sync points at 1 and 2 segment
  // lengths reach it, and the one at publish too when it joined before it.
  await until('the source is live', 15_000, () => env.daemon.ingest.stats().streams.some((s) => s.name === `${ENTRY}_1`), 20);
  const player = spawn(FFMPEG, ['-v', 'trace', '-i', `rtmp://127.0.0.1:${env.daemon.rtmpPort}/kLive/${ENTRY}_1`, '-t', String(publishS - segmentS / 2), '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let playerLog = '';
  player.stderr.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.includes('onMetaDataRecording')) playerLog += `${line}\n`;
  });
  t.teardown(() => player.kill('SIGKILL'));
  const playerDone = new Promise<void>((resolve) => player.on('exit', () => resolve()));

  await encoder.done;
  const endedAt = Date.now();
  const publishedMs = endedAt - started;
  // Every rendition's last chunk arrives once the republish grace has passed.
  await until('every rendition delivered its last segment', 90_000, () => renditions.every((f) => chunksOf(env, ENTRY, f).some((c) => c.isLastChunk)), 500).catch((error: Error) => {
    const got = renditions.map((f) => `${f}: [${chunksOf(env, ENTRY, f).map((c) => `${c.duration.toFixed(1)}${c.isLastChunk ? ' last' : ''}`).join(', ')}]`);
    const log = env.lines.filter((l) => /recording|transcode|pipeline|unpublish/.test(l)).slice(-40);
    throw new Error(`${error.message}; received ${got.join('; ')}; recorders ${JSON.stringify(env.daemon.ingest.recordings())}; log:\n${log.join('\n')}`);
  });
  await playerDone;

  const recordDir = env.daemon.config.recording.sharedDirectory;
  /** Each rendition's recorded span on the timeline: [start of its first segment, end of its last]. */
  const spans = new Map<number, { start: number; end: number }>();
  for (const flavor of renditions) {
    const chunks = chunksOf(env, ENTRY, flavor);
    t.is(chunks.length, 3, `flavor ${flavor}: ${chunks.map((c) => c.duration).join(', ')}`);
    t.deepEqual(chunks.map((c) => c.isLastChunk), [false, false, true], `flavor ${flavor}: isLastChunk only on the last`);
    t.true(chunks.every((c) => c.mediaServerIndex === 0));
    const files = chunks.map((c) => c.localFilePath ?? '');
    t.true(files.every((f) => f.startsWith(recordDir)), 'delivered from the shared directory');
    let previousEnd: number | undefined;
    let total = 0;
    /** Sync points past a segment's first. */
    let inside = 0;
    for (const [i, chunk] of chunks.entries()) {
      const p = await probe(files[i]);
      t.deepEqual(p.codecs, flavor === FLAVOR.audioOnly ? ['aac'] : ['aac', 'h264'], `flavor ${flavor} segment ${i}`);
      t.true(Math.abs(p.durationS - chunk.duration) < 0.2, `appendRecording duration ${chunk.duration} vs ffprobe ${p.durationS}`);
      t.is(createHash('sha256').update(readFileSync(files[i])).digest('hex'), chunk.sha256, 'Kaltura got the file as written');
      const start = startOf(files[i]);
      // recording.fileGroup: the segment (and its recording directory) belong to the group, group-readable.
      const st = statSync(files[i]);
      t.is(st.gid, fileGroup.gid, `flavor ${flavor} segment ${i}: group`);
      t.is(st.mode & 0o040, 0o040, 'group-readable');
      // The sync points, as Kaltura's batch reads them: in stream 2 (after video and audio), the
      // first at the segment's start, then one per interval slot; each packet's time in the file
      // is the instant its timestamp names on the timeline.
      const points = await syncPointsOf(files[i], flavor === FLAVOR.audioOnly ? 1 : 2);
      t.true(points.length >= 1 && points.length <= Math.ceil(segmentS / syncS) + 1, `flavor ${flavor} segment ${i}: ${JSON.stringify(points)}`);
      inside += points.length - 1;
      t.is(points[0].pts, 0, 'the first sync point at the segment start');
      for (const point of points) t.is(point.timestamp, start + point.pts, `sync point ${point.id} at ${point.pts} ms of a segment starting ${start}`);
      const slots = points.map((point) => Number(point.id.slice(`${ENTRY}_${flavor}_`.length)));
      t.deepEqual(slots, points.map((point) => Math.floor(point.timestamp / (syncS * 1000))), 'ids are <stream>_<slot> on the injector\'s grid');
      if (previousEnd !== undefined) t.true(Math.abs(start - previousEnd) <= 60, `flavor ${flavor}: gap or overlap of ${start - previousEnd} ms between segments`);
      previousEnd = start + chunk.duration * 1000;
      total += chunk.duration;
    }
    t.true(await decodesCleanly(files[2]), `flavor ${flavor}: the last segment decodes without error`);
    t.true(inside >= 1, `flavor ${flavor}: a sync point from inside a segment too`);
    const renditionDir = join(env.daemon.config.recording.directory, ENTRY, `${ENTRY}_${flavor}`);
    t.is(statSync(renditionDir).gid, fileGroup.gid, `flavor ${flavor}: recording directory group`);
    t.is(statSync(join(env.daemon.config.recording.directory, ENTRY)).gid, fileGroup.gid, 'entry directory group');
    spans.set(flavor, { start: startOf(files[0]), end: startOf(files[0]) + total * 1000 });
    t.log(`flavor ${flavor}: ${chunks.map((c) => c.duration.toFixed(3)).join(' + ')} = ${total.toFixed(3)} s (${publishedMs} ms wall)`);
  }
  // The passthrough rendition holds the whole publish. Transcoded ones are cut on the same
  // timeline and end with it; they begin where the transcoder's first output did (it joins
  // the source at a keyframe once started, later on a loaded machine), never before the source.
  const source = spans.get(FLAVOR.source);
  if (!source) throw new Error('no source rendition');
  // The recorder joins once the daemon has decided to record (Kaltura's recordStatus and
  // permission, then the rendition's start), at the next keyframe: on a loaded machine a second
  // or two after the encoder's first frame. From there it holds everything, cut on the grid.
  const recordedS = (source.end - source.start) / 1000;
  t.true(recordedS >= publishS - 3 && recordedS <= publishS + 1, `the source rendition recorded ${recordedS} s of a ${publishS} s publish`);
  for (const [flavor, span] of spans) {
    t.true(span.start >= source.start - 100, `flavor ${flavor} starts at ${span.start}, the source at ${source.start}`);
    t.true(Math.abs(span.end - source.end) <= 1000, `flavor ${flavor} ends at ${span.end}, the source at ${source.end}`);
    t.true(span.start - source.start <= 10_000, `flavor ${flavor}: its transcoder joined ${span.start - source.start} ms after the publish`);
  }
  t.is(env.emulator.callsOf('media', 'cancelReplace').length, 1, 'the primary unpublish of an anchored, recorded entry cancels the replace');

  // Sync points, as the RTMP player saw them.
  const seenByPlayer = playerLog.split('\n').filter((l) => l.includes('onMetaDataRecording')).length;
  t.true(seenByPlayer >= 2 && seenByPlayer <= 3, `onMetaDataRecording messages seen by the RTMP player: ${seenByPlayer}`);
  // And as ID3 in the HLS of the passthrough rendition (which relays the source's data).
  const dvr = parseMedia((await httpRequest(`${env.origin}/kLive/${ENTRY}_${FLAVOR.source}/playlist.m3u8?DVR`)).body.toString());
  const id3: unknown[] = [];
  for (const s of dvr.segments) {
    const body = (await httpRequest(`${env.origin}/kLive/${ENTRY}_${FLAVOR.source}/${s.uri}`)).body;
    for (const p of syncPoints(parseTs(body))) if (String((p.json as { id?: string }).id).startsWith(`${ENTRY}_1_`)) id3.push(p.json);
  }
  // And their content, as ID3: the first at publish, then every segment length, numbered by slot.
  const points = id3 as Array<{ objectType: string; id: string; timestamp: number }>;
  t.true(points.length >= 3, `recording sync points in HLS ID3: ${JSON.stringify(id3)}`);
  const slots = points.map((p) => Number(p.id.slice(`${ENTRY}_1_`.length)));
  t.true(points.every((p) => p.objectType === 'KalturaSyncPoint'));
  t.deepEqual(slots.slice(0, 3), [slots[0], slots[0] + 1, slots[0] + 2], `sync point ids ${points.map((p) => p.id).join(',')}`);
  const interval = segmentS * 1000;
  t.true(Math.abs(points[1].timestamp - points[0].timestamp - interval) < 1000 && Math.abs(points[2].timestamp - points[1].timestamp - interval) < 1000, `sync point times ${points.map((p) => p.timestamp).join(',')}`);
  // The first at publish: on the wall-clock timeline, inside the publish (however slowly the encoder started).
  t.true(points[0].timestamp >= started - 1000 && points[0].timestamp <= endedAt, `the first at publish: ${points[0].timestamp} in ${started}..${endedAt}`);
});

test('an encoder that reconnects continues the recording: only the segment closed by the final unpublish is the last chunk', async (t) => {
  t.timeout(180_000);
  const ENTRY = '0_recagain';
  const env = await startHlsEnv({
    fixtures: fixturesWith([{ id: ENTRY, flavorParamsIds: [FLAVOR.source], recordStatus: 1 }]),
    // The reconnect comes 2 s (plus the encoder's start-up) after the first publish ends,
    // well inside the 15 s grace.
    recording: { segmentDurationSeconds: 60, republishGraceSeconds: 15 },
  });
  t.teardown(() => env.stop());
  const source = { seconds: 15, size: '640x360', rate: 25, videoKbps: 600, noise: 0 };
  const first = publishDetailed(env.publishUrl(ENTRY), source);
  t.teardown(() => first.child.kill('SIGKILL'));
  await first.done;
  await sleep(2000);
  const second = publishDetailed(env.publishUrl(ENTRY), source);
  t.teardown(() => second.child.kill('SIGKILL'));
  await second.done;
  await until('the last chunk', 60_000, () => chunksOf(env, ENTRY, FLAVOR.source).some((c) => c.isLastChunk), 500);
  const chunks = chunksOf(env, ENTRY, FLAVOR.source);
  t.deepEqual(chunks.map((c) => c.isLastChunk), [false, true], `chunks ${chunks.map((c) => `${c.duration}${c.isLastChunk ? ' last' : ''}`).join(', ')}`);
  // One segment per 15 s publish; the recorder joins each at a keyframe once the publish is
  // admitted, a second or two in on a loaded machine.
  t.true(chunks.every((c) => c.duration > 12 && c.duration < 16), `one segment per publish: ${chunks.map((c) => c.duration).join(', ')} s`);
  t.is(logEvents(env, 'recording failed').length, 0, 'the reconnect is not a recording failure');
  t.deepEqual(env.daemon.ingest.recordings().map((r) => r.rejectedFrames), [0], 'every frame of both publishes recorded');
});

test('LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION is permanent: asked once, the rest of the session is not appended, counted', async (t) => {
  t.timeout(180_000);
  const ENTRY = '0_recmaxd1';
  // Kaltura's max recorded duration, 6 s here: the first 4 s segment fits, the second does not.
  const fixtures = fixturesWith([{ id: ENTRY, flavorParamsIds: [FLAVOR.source], recordStatus: 1 }]);
  fixtures.maxRecordingDurationMs = 6000;
  const env = await startHlsEnv({ fixtures, recording: { segmentDurationSeconds: 4, republishGraceSeconds: 3 } });
  t.teardown(() => env.stop());
  const encoder = publishDetailed(env.publishUrl(ENTRY), { seconds: 20, size: '640x360', rate: 25, videoKbps: 600, noise: 0 });
  t.teardown(() => encoder.child.kill('SIGKILL'));
  await encoder.done;
  const queue = env.daemon.recordings.queue;
  // Every segment, the last one included, is settled (delivered or failed), none left to retry.
  await until('the last segment settled', 60_000, () => queue.list().some((i) => i.isLast && i.state !== 'pending'), 250);
  await queue.whenIdle();
  const items = queue.list().sort((a, b) => a.seq - b.seq);
  const appended = env.emulator.callsOf('liveStream', 'appendRecording');
  const results = appended.map((c) => c.result);
  // The recorder joins mid-slot, so the first segment may be short: one or two fit in 6 s.
  t.deepEqual(results.slice(0, -1), results.slice(0, -1).map(() => 'OK'), `before the refusal: ${results.join(', ')}`);
  t.is(results.at(-1), 'LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION', 'asked once, not retried, nothing sent after it');
  const received = chunksOf(env, ENTRY, FLAVOR.source);
  t.true(received.reduce((sum, c) => sum + c.duration, 0) <= 6, `what Kaltura took stays within its max: ${received.map((c) => c.duration).join(' + ')} s`);
  // Delivered items leave the queue (the file is Kaltura's now); what is left is what was refused.
  const failed = items.filter((i) => i.state === 'failed');
  t.is(failed.length, items.length, items.map((i) => i.state).join(', '));
  t.true(failed.length >= 2, `the refused segment and the rest of the session: ${items.map((i) => `${i.state}${i.isLast ? ' last' : ''}`).join(', ')}`);
  const lastDelivered = Math.max(...received.map((c) => startOf(c.localFilePath ?? '')));
  t.true(failed.every((i) => startOf(i.path) > lastDelivered), 'the refused ones are the segments after the delivered ones');
  t.true(failed.at(-1)?.isLast === true);
  t.true(failed.every((i) => /LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION/.test(i.lastError ?? '')), JSON.stringify(failed.map((i) => i.lastError)));
  t.true(failed.every((i) => i.attempts <= 1), 'never retried');
  t.is(queue.counters().exceededMaxDuration, failed.length);
  t.is(logEvents(env, "entry exceeded Kaltura's max recorded duration: the rest of this recording session is not appended").length, 1);
});

test('eCDN mode: segments go through uploadToken and arrive byte-identical', async (t) => {
  t.timeout(180_000);
  const ENTRY = '0_rececdn1';
  const env = await startHlsEnv({
    fixtures: fixturesWith([{ id: ENTRY, flavorParamsIds: [FLAVOR.source], recordStatus: 1 }]),
    workMode: 'ecdn',
    recording: { segmentDurationSeconds: 15, uploadChunkBytes: 256 * 1024, retainDeliveredSeconds: 3600, republishGraceSeconds: 5 },
    kaltura: { partnerId: 102, adminSecret: DEMO_ADMIN_SECRET },
  });
  t.teardown(() => env.stop());
  const encoder = publishDetailed(env.publishUrl(ENTRY), { seconds: 35, size: '640x360', rate: 25, videoKbps: 800, noise: 0 });
  t.teardown(() => encoder.child.kill('SIGKILL'));
  await encoder.done;
  await until('the last chunk', 60_000, () => chunksOf(env, ENTRY, FLAVOR.source).some((c) => c.isLastChunk), 500);
  const chunks = chunksOf(env, ENTRY, FLAVOR.source);
  t.true(chunks.length >= 2);
  t.true(chunks.every((c) => c.resourceType === 'KalturaUploadedFileTokenResource'));
  t.true(env.emulator.callsOf('uploadToken', 'upload').length > chunks.length, 'uploaded in several chunks');
  // Kaltura has the last chunk; the queue records it as done right after: wait for that.
  await env.daemon.recordings.queue.whenIdle();
  const local = env.daemon.recordings.queue.list().filter((i) => i.state === 'done');
  t.is(local.length, chunks.length);
  for (const [i, chunk] of chunks.entries()) {
    t.true(bytesOf(chunk).equals(readFileSync(local[i].path)), `segment ${i} is byte-identical`);
  }
});

test(`Kaltura down for ${LONG ? '2 minutes' : '30 s'} during recording: afterwards every segment arrives, in order, once`, async (t) => {
  // 10 s segments and a 30 s outage (20 s and 2 minutes with KLIVE_LONG_TESTS=1): segments
  // finish while Kaltura is down and queue up.
  const segmentS = LONG ? 20 : 10;
  const outageMs = LONG ? 120_000 : 30_000;
  const publishS = LONG ? 100 : 50;
  t.timeout((LONG ? 330 : 180) * 1000);
  const ENTRY = '0_recdown1';
  const env = await startHlsEnv({
    fixtures: fixturesWith([{ id: ENTRY, flavorParamsIds: [FLAVOR.source], recordStatus: 1 }]),
    recording: { segmentDurationSeconds: segmentS, republishGraceSeconds: 5 },
  });
  t.teardown(() => env.stop());
  const encoder = publishDetailed(env.publishUrl(ENTRY), { seconds: publishS, size: '640x360', rate: 25, videoKbps: 600, noise: 0 }, (publishS + 80) * 1000);
  t.teardown(() => encoder.child.kill('SIGKILL'));
  await sleep(8000);
  env.emulator.setDown(true);
  const downAt = Date.now();
  await sleep(outageMs);
  const duringOutage = chunksOf(env, ENTRY, FLAVOR.source).length;
  env.emulator.setDown(false);
  t.log(`Kaltura down ${Date.now() - downAt} ms; queue then: ${JSON.stringify(env.daemon.recordings.queue.counters())}`);
  await encoder.done;
  await until('the last chunk after the outage', 120_000, () => chunksOf(env, ENTRY, FLAVOR.source).some((c) => c.isLastChunk), 500);
  const chunks = chunksOf(env, ENTRY, FLAVOR.source);
  t.is(duringOutage, 0, 'nothing was delivered while Kaltura was down');
  t.true(chunks.length >= publishS / segmentS, `${chunks.length} segments`);
  const starts = chunks.map((c) => startOf(c.localFilePath ?? ''));
  t.deepEqual([...starts].sort((a, b) => a - b), starts, 'delivered in recording order');
  t.is(new Set(chunks.map((c) => c.sha256)).size, chunks.length, 'no segment twice');
  t.deepEqual(chunks.map((c) => c.isLastChunk), chunks.map((_, i) => i === chunks.length - 1));
  const total = chunks.reduce((s, c) => s + c.duration, 0);
  t.true(total > publishS - 2 && total < publishS + 1, `recorded ${total} s of ${publishS}`);
});

test('a full disk stops the recording with an error; HLS goes on and what was written is delivered', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('rec-full');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]);
  } catch (error) {
    t.fail(`cannot mount a small tmpfs (needs root): ${(error as Error).message}`);
    return;
  }
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', dir]);
    } catch {
      /* already gone */
    }
  });
  const ENTRY = '0_recfull2';
  const env = await startHlsEnv({
    fixtures: fixturesWith([{ id: ENTRY, flavorParamsIds: [FLAVOR.source], recordStatus: 1 }]),
    recording: { directory: join(dir, 'rec'), sharedDirectory: join(tempDir('rec-full-shared'), 'shared'), stateDirectory: tempDir('rec-full-state'), segmentDurationSeconds: 60 },
  });
  t.teardown(() => env.stop());
  // 1.5 Mbit/s: the 3 MB disk fills within ~20 s.
  const encoder = publishDetailed(env.publishUrl(ENTRY), { seconds: 45, size: '640x360', rate: 25, videoKbps: 1500, noise: 8 }, 90_000);
  t.teardown(() => encoder.child.kill('SIGKILL'));
  const error = await until('a recording error', 60_000, () => logEvents(env, 'recording failed')[0], 250);
  t.regex(String(error.message), /No space left on device|os error 28/);
  const stream = `${ENTRY}_${FLAVOR.source}`;
  const before = (await fetchMedia(env.origin, stream))?.segments.at(-1)?.seq ?? -1;
  const after = await until('a new HLS segment after the disk filled', 40_000, async () => {
    const seq = (await fetchMedia(env.origin, stream))?.segments.at(-1)?.seq ?? -1;
    return seq > before ? seq : undefined;
  }, 500);
  t.true(after > before, `HLS goes on after the disk filled (segment ${before} → ${after})`);
  await until('the written segments delivered', 30_000, () => chunksOf(env, ENTRY, FLAVOR.source).length >= 1, 500);
  const chunks = chunksOf(env, ENTRY, FLAVOR.source);
  const p = await probe(chunks[0].localFilePath ?? '');
  t.deepEqual(p.codecs, ['aac', 'h264']);
  t.true(p.durationS > 1, `salvaged ${p.durationS} s`);
  t.is(env.daemon.ingest.recordings().find((r) => r.name === stream)?.error !== undefined, true, 'the recording reports its error');
  const beacon = await until('a health beacon about it', 10_000, () => env.emulator.beacons.find((b) => b.privateData.includes('RECORDING_FAILED')));
  t.is(beacon.objectId, ENTRY);
  t.log(`error: ${String(error.message)}; delivered ${chunks.map((c) => c.duration).join(', ')} s`);
});

test('kill -9 mid-segment: the next start finishes the partial segment and delivers it once', async (t) => {
  t.timeout(180_000);
  const ENTRY = '0_reckill1';
  const emulator = await startKalturaEmulator({ fixtures: fixturesWith([{ id: ENTRY, flavorParamsIds: [FLAVOR.source], recordStatus: 1 }]) });
  t.teardown(() => emulator.stop());
  const dir = tempDir('rec-kill');
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      kaltura: { serviceUrl: emulator.url, adminSecret: MEDIA_SERVER_ADMIN_SECRET, heartbeatIntervalSeconds: 0 },
      hostname: HLS_TEST_HOST,
      rtmp: { host: '127.0.0.1', port: 0 },
      recording: { directory: join(dir, 'rec'), segmentDurationSeconds: 60 },
      log: { format: 'json', level: 'info' },
    }),
  );
  const startServer = () => startBin(t, configFile);
  const first = await startServer();
  const url = `rtmp://127.0.0.1:${first.port}/kLive/?p=102&e=${ENTRY}&i=0&t=${DEMO_ENTRY_TOKEN}/${ENTRY}_1`;
  const encoder = publishDetailed(url, { seconds: 60, size: '640x360', rate: 25, videoKbps: 600, noise: 0 }, 90_000);
  t.teardown(() => encoder.child.kill('SIGKILL'));
  // Killed mid-segment (60 s segments) once ~10 s of media are recorded.
  await sleep(12_000);
  first.child.kill('SIGKILL');
  const killedAt = Date.now();
  encoder.child.kill('SIGKILL');
  await first.exited;
  const assetId = liveAssetId(ENTRY, FLAVOR.source);
  t.is(emulator.receivedRecordings(ENTRY, assetId).length, 0, 'nothing delivered before the kill (60 s segments)');

  const second = await startServer();
  await until('the recovered segment delivered', 60_000, () => emulator.receivedRecordings(ENTRY, assetId).length >= 1, 250);
  // The restart is complete once the server has stopped gracefully (its delivery queue
  // drained): only then is "once" a fact rather than a snapshot.
  second.child.kill('SIGTERM');
  await second.exited;
  const chunks = emulator.receivedRecordings(ENTRY, assetId);
  t.is(chunks.length, 1, 'delivered once');
  const path = chunks[0].localFilePath ?? '';
  const p = await probe(path);
  t.deepEqual(p.codecs, ['aac', 'h264']);
  const recordedUntil = startOf(path) + p.durationS * 1000;
  t.log(`recovered ${p.durationS} s, ending ${killedAt - recordedUntil} ms before the kill`);
  // Most of the ~10 s published before the kill survived it (the recorder writes a fragment
  // at least every 2 s), and nothing after the kill is claimed.
  t.true(p.durationS >= 5, `recovered ${p.durationS} s`);
  t.true(recordedUntil <= killedAt, 'nothing recorded after the kill');
  t.true(Math.abs(p.durationS - chunks[0].duration) < 0.2);
  t.true(await decodesCleanly(path));
  t.regex(second.output(), /recovered a segment cut short/);
  // A third start finds nothing to recover or deliver: it says so by not queuing anything,
  // and after its graceful stop Kaltura still has one appendRecording.
  const third = await startServer();
  third.child.kill('SIGTERM');
  await third.exited;
  t.notRegex(third.output(), /recovered a segment cut short|queued for delivery|recording segment delivered/);
  t.is(emulator.callsOf('liveStream', 'appendRecording').length, 1, 'nothing delivered twice');
});

test('kill -9 during an eCDN upload: the next start resumes the pending journal items; each segment arrives once, byte-identical', async (t) => {
  t.timeout(180_000);
  const ENTRY = '0_reckill2';
  const emulator = await startKalturaEmulator({ fixtures: fixturesWith([{ id: ENTRY, flavorParamsIds: [FLAVOR.source], recordStatus: 1 }]) });
  t.teardown(() => emulator.stop());
  const dir = tempDir('rec-kill-ecdn');
  const recordDir = join(dir, 'rec');
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      workMode: 'ecdn',
      kaltura: { serviceUrl: emulator.url, partnerId: 102, adminSecret: DEMO_ADMIN_SECRET, heartbeatIntervalSeconds: 0 },
      hostname: HLS_TEST_HOST,
      rtmp: { host: '127.0.0.1', port: 0 },
      // 5 s segments uploaded in 64 KiB chunks (kept afterwards, to compare), Kaltura slow:
      // an upload is in flight most of the time.
      recording: { directory: recordDir, segmentDurationSeconds: 5, uploadChunkBytes: 64 * 1024, retainDeliveredSeconds: 3600, republishGraceSeconds: 2 },
      log: { format: 'json', level: 'info' },
    }),
  );
  const startServer = () => startBin(t, configFile);
  const first = await startServer();
  emulator.setLatency(250);
  const encoder = publishDetailed(`rtmp://127.0.0.1:${first.port}/kLive/?p=102&e=${ENTRY}&i=0&t=${DEMO_ENTRY_TOKEN}/${ENTRY}_1`, { seconds: 30, size: '640x360', rate: 25, videoKbps: 800, noise: 0 }, 90_000);
  t.teardown(() => encoder.child.kill('SIGKILL'));
  const calls = () => ({ add: emulator.callsOf('uploadToken', 'add').length, upload: emulator.callsOf('uploadToken', 'upload').length, append: emulator.callsOf('liveStream', 'appendRecording').length });
  // Killed while a segment is half uploaded: after a delivered segment, the next one's token
  // has taken two chunks and no appendRecording yet.
  await until('a segment half uploaded after a delivered one', 60_000, () => {
    const all = emulator.calls;
    const lastAppend = all.map((c) => c.action.toLowerCase()).lastIndexOf('appendrecording');
    if (lastAppend < 0) return undefined;
    const since = all.slice(lastAppend + 1);
    const added = since.some((c) => c.action.toLowerCase() === 'add' && c.service.toLowerCase() === 'uploadtoken');
    return added && since.filter((c) => c.action.toLowerCase() === 'upload' && c.result === 'OK').length >= 2 ? true : undefined;
  }, 20);
  first.child.kill('SIGKILL');
  encoder.child.kill('SIGKILL');
  await first.exited;
  const atKill = calls();
  t.log(`at the kill: ${JSON.stringify(atKill)}`);
  emulator.setLatency(0);

  const second = await startServer();
  // Every segment on disk (the restart also finished the one being written) reaches Kaltura.
  const segments = execFileSync('find', [recordDir, '-name', '*.mp4', '-type', 'f']).toString().trim().split('\n').filter((f) => f !== '');
  t.true(segments.length >= 2, `segments on disk: ${segments.join(', ')}`);
  const received = () => emulator.receivedRecordings(ENTRY, liveAssetId(ENTRY, FLAVOR.source));
  await until('every segment delivered after the restart', 90_000, () => received().length >= segments.length, 250);
  second.child.kill('SIGTERM');
  await second.exited;
  const chunks = received();
  const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  t.deepEqual(chunks.map((c) => c.sha256).sort(), segments.map(sha).sort(), 'each segment once, byte-identical');
  const after = calls();
  t.is(after.append, segments.length, 'one appendRecording per segment');
  // The interrupted upload continued on its journaled token (asked Kaltura how much it holds,
  // then resumed there): one token per segment, none created twice.
  t.log(`after the restart: ${JSON.stringify(after)}`);
  t.is(after.add, segments.length, `${after.add} upload tokens for ${segments.length} segments`);
  t.true(emulator.callsOf('uploadToken', 'get').length >= 1, 'the restart asked Kaltura for the token\'s uploaded size');
  t.regex(second.output(), /queued for delivery|recovered a segment cut short|recording segment delivered/);
});

test('two servers fed by one encoder (tee): the same media sequence numbers and PTS (within 50 ms) for the same content', async (t) => {
  t.timeout(120_000);
  const servers = await Promise.all([0, 1].map(() => RtmpIngest.start({ host: '127.0.0.1', port: 0 })));
  t.teardown(() => Promise.all(servers.map((s) => s.close(1000))).then(() => undefined));
  const STREAM = '0_rectee01_1';
  for (const s of servers) s.startHls(STREAM, { targetDurationMs: 2000, republishGraceMs: 30_000 });
  const tee = servers.map((s) => `[f=flv:onfail=ignore]rtmp://127.0.0.1:${s.port}/kLive/${STREAM}`).join('|');
  const encoder = run(
    FFMPEG,
    ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '20',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-keyint_min', '25', '-sc_threshold', '0', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-flags', '+global_header', '-map', '0:v', '-map', '1:a', '-f', 'tee', tee],
    60_000,
  );
  const origins = servers.map((s) => `http://127.0.0.1:${s.port}`);
  const playlists = await until('both playlists with 5 segments', 40_000, async () => {
    const ps = await Promise.all(origins.map((o) => fetchMedia(o, STREAM)));
    return ps.every((p) => p && p.segments.length >= 5) ? ps : undefined;
  }, 500);
  const [a, b] = playlists.map((p) => p!);
  const common = a.segments.filter((s) => b.segments.some((o) => o.seq === s.seq && o.uri === s.uri));
  t.true(common.length >= 4, `segments named alike on both: ${common.map((s) => s.seq).join(',')} (a: ${a.segments.map((s) => s.seq).join(',')}; b: ${b.segments.map((s) => s.seq).join(',')})`);
  const diffs: number[] = [];
  for (const s of common.slice(1)) {
    const bodies = await Promise.all(origins.map(async (o) => (await httpRequest(`${o}/kLive/${STREAM}/${s.uri}`)).body));
    t.is(bodies[0].length, bodies[1].length, `segment ${s.seq}: the same frames on both servers`);
    const pts = bodies.map((body) => firstPtsMs(parseTs(body), STREAM_TYPE.h264));
    t.true(pts[0] !== undefined && pts[1] !== undefined && Math.abs(pts[0] - pts[1]) <= 50, `segment ${s.seq}: PTS ${pts[0]} vs ${pts[1]}`);
    if (pts[0] !== undefined && pts[1] !== undefined) diffs.push(Math.abs(pts[0] - pts[1]));
    const other = b.segments.find((o) => o.seq === s.seq)!;
    t.true(Math.abs(s.duration - other.duration) <= 0.05, `segment ${s.seq}: ${s.duration} s vs ${other.duration} s`);
  }
  t.log(`PTS difference between the servers per segment (ms): ${diffs.map((d) => d.toFixed(1)).join(', ')}`);
  await encoder;
});
