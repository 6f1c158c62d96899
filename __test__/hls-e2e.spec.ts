/**
 * Issue 4 end to end: a real ffmpeg encoder publishes over RTMP to the daemon, which asks the
 * embedded Kaltura emulator for the entry's conversion profile, transcodes with a supervised
 * ffmpeg and packages HLS in the Rust core; the origin is read over real HTTP on the RTMP
 * port (and a separate HTTP port), the segments with ffprobe and our own TS/ID3 reader.
 *
 * Every test is bounded: encoders run for a fixed time and are killed at teardown, every wait
 * has a deadline. The ladder (720p30 → 480p + 360p + audio-only) is the only heavy test; it
 * runs alone, before the transcoder-crash test, and the light passthrough tests run last.
 */
import test, { type ExecutionContext } from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoFixtures, type FixtureFlavorParams } from '../src/dev';
import {
  FLAVOR,
  HLS_TEST_HOST,
  childProcesses,
  ffprobeFile,
  ffprobeTimedId3,
  fetchMedia,
  fetchSegment,
  firstPtsMs,
  fixturesWith,
  getOk,
  httpRequest,
  masterUrl,
  mediaUrl,
  parseMaster,
  parseMedia,
  parseTs,
  pidOf,
  processExists,
  publishDetailed,
  startHlsEnv,
  streamBitrate,
  STREAM_TYPE,
  syncPoints,
  until,
  waitForSegments,
  type HlsEnv,
  type MediaPlaylist,
  type MediaSegment,
  type Variant,
} from './helpers/hls';
import { tempDir, type Running } from './helpers/media';

const flavors = new Map<number, FixtureFlavorParams>(demoFixtures().flavorParams.map((f) => [f.id, f]));
const flavor = (id: number): FixtureFlavorParams => {
  const f = flavors.get(id);
  if (!f) throw new Error(`no flavor params ${id} in the demo fixtures`);
  return f;
};

const TARGET_S = 2;
/** EXTINF tolerance: ±0.5 s (the encoder's GOP is 1 s, so a segment is 2 s ± a frame). */
const EXTINF_TOLERANCE_S = 0.5;
const BITRATE_TOLERANCE = 0.2;
/** Boundaries line up when first PTSs differ by less than this. */

const LADDER = '0_hlsladr1';
const KILL = '0_hlskill1';
const PASS = '0_hlspass1';
const PASS_PLAIN = '0_hlspass2';
const HEADERS = '0_hlshdrs1';

interface Started {
  env: HlsEnv;
  encoder: Running;
}

/** Emulator + daemon with the given test entries; encoder and daemon stopped at teardown. */
async function setup(t: ExecutionContext, entries: Parameters<typeof fixturesWith>[0], extra: Omit<Parameters<typeof startHlsEnv>[0], 'fixtures'> = {}): Promise<HlsEnv> {
  const env = await startHlsEnv({ fixtures: fixturesWith(entries), ...extra });
  t.teardown(() => env.stop());
  return env;
}

function publish(t: ExecutionContext, env: HlsEnv, entryId: string, source: Parameters<typeof publishDetailed>[1]): Started {
  const encoder = publishDetailed(env.publishUrl(entryId), source);
  t.teardown(() => {
    encoder.child.kill('SIGKILL');
  });
  return { env, encoder };
}

/** Segments of a playlist that are whole target-length segments: not the stream's first, no discontinuity. */
/**
 * Segments cut at both ends by the grid: not the first listed (a stream's first segment runs
 * from its first keyframe to the next slot of the wall-clock grid) and not after a discontinuity.
 */
const fullSegments = (p: MediaPlaylist): MediaSegment[] => p.segments.slice(1).filter((s) => !s.discontinuity);

// ---------------------------------------------------------------------------------------------
// a. The ladder

interface RenditionExpectation {
  key: string;
  stream: string;
  /** Video: size and bit rate (kbit/s; 0 = passthrough, not checked) and H.264 profile of the avc1 string. */
  video?: { width: number; height: number; kbps: number; avcProfile: RegExp };
  /** AAC bit rate, kbit/s. */
  audioKbps: number;
}

/** What the conversion profile asks for, from the fixtures (a 1280x720 source, fit-height). */
function ladderExpectations(): RenditionExpectation[] {
  const sd480 = flavor(FLAVOR.sd480);
  const sd360 = flavor(FLAVOR.sd360);
  const widthFor = (height: number) => 2 * Math.round((1280 * height) / 720 / 2);
  return [
    // The source is passed through (relay): the encoder's own 3000k video, 128k AAC.
    { key: 'source', stream: `${LADDER}_${FLAVOR.source}`, video: { width: 1280, height: 720, kbps: 0, avcProfile: /^avc1\.42/ }, audioKbps: 128 },
    // h264m → Main (avc1.4d…), h264b → Baseline (avc1.42…).
    { key: '480p', stream: `${LADDER}_${FLAVOR.sd480}`, video: { width: widthFor(sd480.height), height: sd480.height, kbps: sd480.videoBitrate, avcProfile: /^avc1\.4d/ }, audioKbps: sd480.audioBitrate },
    { key: '360p', stream: `${LADDER}_${FLAVOR.sd360}`, video: { width: widthFor(sd360.height), height: sd360.height, kbps: sd360.videoBitrate, avcProfile: /^avc1\.42/ }, audioKbps: sd360.audioBitrate },
    // Kaltura's template (LiveConversionProfileService::appendLiveParams) sets the audio codec
    // from the flavor only for flavors with a frame size or frame rate: the audio-only flavor
    // gets the ingest's audio codec, PassThru for an AAC source, so it carries the source's 128k
    // AAC (its 64k Bitrate element is ignored with PassThru).
    { key: 'audio', stream: `${LADDER}_${FLAVOR.audioOnly}`, audioKbps: 128 },
  ];
}

interface SegmentTiming {
  seq: number;
  discontinuity: boolean;
  programDateTime?: number;
  /** First PTS of the segment's main track (video, or audio for audio-only), ms. */
  startPtsMs: number;
}

/** Filled by the ladder test for the alignment test. */
const ladderTimings = new Map<string, SegmentTiming[]>();

test.serial('a. 720p30 → source + 480p + 360p + audio-only: master, media playlists, segments (codecs, sizes, bit rates, ID3 sync points)', async (t) => {
  t.timeout(90_000);
  const env = await setup(t, [{ id: LADDER, flavorParamsIds: [FLAVOR.source, FLAVOR.sd480, FLAVOR.sd360, FLAVOR.audioOnly], segmentDuration: TARGET_S * 1000 }]);
  const startedAt = Date.now();
  publish(t, env, LADDER, { seconds: 40, size: '1280x720', rate: 30, videoKbps: 3000, codecIdStrings: true });
  const expected = ladderExpectations();

  // Each rendition: its first (partial) segment plus three whole ones.
  const playlists = new Map<string, MediaPlaylist>();
  await Promise.all(
    expected.map(async (r) => {
      const p = await until(`3 whole segments of ${r.stream}`, 45_000, async () => {
        const pl = await fetchMedia(env.origin, r.stream);
        return pl !== undefined && fullSegments(pl).length >= 3 ? pl : undefined;
      }, 250);
      playlists.set(r.key, p);
    }),
  );
  t.log(`3 whole segments in every rendition ${((Date.now() - startedAt) / 1000).toFixed(1)} s after the encoder started`);

  // The plan: the source is a relay in the core, the rest come from one ffmpeg.
  const [stats] = env.daemon.transcodes.stats();
  t.is(stats.source, `${LADDER}_1`);
  t.deepEqual(
    stats.renditions.map((r) => `${r.streamName}:${r.kind}`),
    [`${LADDER}_32:relay`, `${LADDER}_43:transcode`, `${LADDER}_44:transcode`, `${LADDER}_45:transcode`],
  );
  t.is(stats.ffmpeg?.state, 'running');

  // Master playlist of the plan's group, read through the RTMP port.
  const masterText = (await getOk(masterUrl(env.origin, `${LADDER}_1_all`))).toString('utf8');
  t.log(masterText.trim());
  const variants = parseMaster(masterText);
  t.is(variants.length, expected.length, masterText);
  const byUri = new Map<string, Variant>(variants.map((v) => [v.uri, v]));
  for (const r of expected) {
    const v = byUri.get(`../${r.stream}/playlist.m3u8`);
    if (!v) {
      t.fail(`${r.stream} is not in the master playlist`);
      continue;
    }
    t.true(v.bandwidth > 0, `${r.key} BANDWIDTH`);
    const profileKbps = (r.video?.kbps || (r.video ? 3000 : 0)) + r.audioKbps;
    t.true(v.bandwidth >= 0.8 * profileKbps * 1000 && v.bandwidth <= 2 * profileKbps * 1000, `${r.key} BANDWIDTH ${v.bandwidth} for a ${profileKbps} kbit/s rendition`);
    if (r.video) {
      t.deepEqual(v.resolution, { width: r.video.width, height: r.video.height }, `${r.key} RESOLUTION`);
      t.is(v.codecs.length, 2, `${r.key} CODECS ${v.codecs.join(',')}`);
      t.regex(v.codecs[0], /^avc1\.[0-9a-f]{6}$/i, `${r.key} video codec`);
      t.regex(v.codecs[0], r.video.avcProfile, `${r.key} H.264 profile`);
      t.is(v.codecs[1], 'mp4a.40.2', `${r.key} audio codec`);
    } else {
      t.is(v.resolution, undefined, 'audio-only: no RESOLUTION');
      t.deepEqual(v.codecs, ['mp4a.40.2'], 'audio-only CODECS');
    }
  }
  // Video variants first, by descending bandwidth; audio-only last.
  t.deepEqual(variants.map((v) => v.uri), [...variants].sort((a, b) => Number(a.resolution === undefined) - Number(b.resolution === undefined) || b.bandwidth - a.bandwidth).map((v) => v.uri));
  // `<entry>_all` (every rendition of the entry) lists the same variants.
  const allText = (await getOk(masterUrl(env.origin, `${LADDER}_all`))).toString('utf8');
  t.deepEqual(parseMaster(allText).map((v) => v.uri).sort(), variants.map((v) => v.uri).sort());

  const dir = tempDir('hls-ladder');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const r of expected) {
    const playlist = playlists.get(r.key) as MediaPlaylist;
    t.is(playlist.targetDuration, TARGET_S, `${r.key} EXT-X-TARGETDURATION`);
    const whole = fullSegments(playlist);
    for (const s of whole) {
      t.true(Math.abs(s.duration - TARGET_S) <= EXTINF_TOLERANCE_S, `${r.key} seq ${s.seq} EXTINF ${s.duration}`);
      t.is(typeof s.programDateTime, 'number', `${r.key} seq ${s.seq} EXT-X-PROGRAM-DATE-TIME`);
    }

    // Every listed segment: the ID3 sync point first, naming this stream and sequence number.
    const timings: SegmentTiming[] = [];
    const wholeFiles: Buffer[] = [];
    for (const s of playlist.segments) {
      const bytes = await fetchSegment(env.origin, r.stream, s);
      const ts = parseTs(bytes);
      t.is(ts.errors, 0, `${r.key} seq ${s.seq}: whole TS packets`);
      const points = syncPoints(ts);
      t.is(points.length, 1, `${r.key} seq ${s.seq}: one ID3 tag`);
      const point = points[0];
      if (point) {
        t.regex(point.text, new RegExp(`^\\{"objectType":"KalturaSyncPoint","timestamp":\\d+,"id":"${r.stream}_${s.seq}"\\}$`), `${r.key} seq ${s.seq}`);
        const json = point.json as { objectType: string; timestamp: number; id: string };
        t.deepEqual(Object.keys(json), ['objectType', 'timestamp', 'id']);
        t.is(json.objectType, 'KalturaSyncPoint');
        t.is(json.id, `${r.stream}_${s.seq}`);
        // The sync point's timestamp is the segment's start on the same clock as its PROGRAM-DATE-TIME.
        t.is(json.timestamp, s.programDateTime ?? NaN, `${r.key} seq ${s.seq}: sync point timestamp = PROGRAM-DATE-TIME`);
        t.true(Math.abs(json.timestamp - Date.now()) < 60_000, 'a wall-clock timestamp');
        // It starts the segment: the ID3 PES begins before any media PES.
        const id3Pid = pidOf(ts, STREAM_TYPE.metadata);
        const firstMedia = Math.min(...ts.pes.filter((p) => p.pid !== id3Pid).map((p) => p.startPacket));
        const id3Start = Math.min(...ts.pes.filter((p) => p.pid === id3Pid).map((p) => p.startPacket));
        t.true(id3Start < firstMedia, `${r.key} seq ${s.seq}: the ID3 tag comes before the media`);
      }
      const start = firstPtsMs(ts, r.video ? STREAM_TYPE.h264 : STREAM_TYPE.aac);
      t.not(start, undefined, `${r.key} seq ${s.seq} has media`);
      timings.push({ seq: s.seq, discontinuity: s.discontinuity, programDateTime: s.programDateTime, startPtsMs: start ?? NaN });
      if (whole.includes(s)) wholeFiles.push(bytes);
      // Cross-check one segment with ffmpeg's own MPEG-TS demuxer (timed_id3 data packets).
      if (s === whole[0] && point) {
        const file = join(dir, `${r.stream}-${s.seq}.ts`);
        writeFileSync(file, bytes);
        const packets = await ffprobeTimedId3(file);
        t.is(packets.length, 1, `${r.key} seq ${s.seq}: ffprobe finds one timed ID3 packet`);
        t.true(packets[0]?.toString('utf8').endsWith(point.text), `${r.key} seq ${s.seq}: ffprobe's ID3 data ends with the sync point: ${packets[0]?.toString('latin1')}`);
      }
    }
    ladderTimings.set(r.key, timings);

    // ffprobe over the whole segments: codecs, size, elementary bit rates.
    const file = join(dir, `${r.stream}.ts`);
    writeFileSync(file, Buffer.concat(wholeFiles));
    const probe = await ffprobeFile(file);
    const video = probe.streams.find((s) => s.codec_type === 'video');
    const audio = probe.streams.find((s) => s.codec_type === 'audio');
    t.like(audio, { codec_name: 'aac', profile: 'LC', channels: 2 }, `${r.key} audio`);
    t.true(probe.streams.some((s) => s.codec_type === 'data' && s.codec_name === 'timed_id3'), `${r.key}: ffprobe sees the timed ID3 stream`);
    const audioRate = streamBitrate(probe, 'audio');
    const videoRate = streamBitrate(probe, 'video');
    const keyframes = probe.packets.filter((p) => p.stream_index === video?.index && p.keyframe).length;
    const extinf = whole.map((s) => s.duration.toFixed(3)).join('/');
    t.log(
      `${r.key}: ${whole.length} whole segments, EXTINF ${extinf}` +
        (videoRate ? `; video ${video?.width}x${video?.height} ${(videoRate.bps / 1000).toFixed(0)} kbit/s over ${videoRate.seconds.toFixed(2)} s (${keyframes} keyframes)` : '') +
        (audioRate ? `; audio ${(audioRate.bps / 1000).toFixed(1)} kbit/s` : '; no audio'),
    );
    if (r.video) {
      t.like(video, { codec_name: 'h264', width: r.video.width, height: r.video.height }, `${r.key} video`);
      t.truthy(videoRate, `${r.key}: video packets`);
      if (videoRate && r.video.kbps > 0) {
        const ratio = videoRate.bps / (r.video.kbps * 1000);
        t.true(Math.abs(ratio - 1) <= BITRATE_TOLERANCE, `${r.key} video ${Math.round(videoRate.bps / 1000)} kbit/s vs ${r.video.kbps} in the profile`);
      }
    } else {
      t.is(video, undefined, 'audio-only has no video');
    }
    t.truthy(audioRate, `${r.key}: audio packets`);
    if (audioRate) {
      const ratio = audioRate.bps / (r.audioKbps * 1000);
      t.true(Math.abs(ratio - 1) <= BITRATE_TOLERANCE, `${r.key} audio ${Math.round(audioRate.bps / 1000)} kbit/s vs ${r.audioKbps}`);
    }
  }
});

/**
 * Per rendition and media sequence number: the start PTS and PROGRAM-DATE-TIME relative to
 * the source rendition's segment of the same number (logged by both alignment tests).
 */
function alignment(t: ExecutionContext): Array<{ key: string; seq: number; ptsDelta: number; pdtDelta: number; pts: number; refPts: number }> {
  const reference = ladderTimings.get('source');
  if (!reference || ladderTimings.size < 4) throw new Error('the ladder test did not run');
  const rows: Array<{ key: string; seq: number; ptsDelta: number; pdtDelta: number; pts: number; refPts: number }> = [];
  for (const [key, timings] of ladderTimings) {
    const deltas: string[] = [];
    for (const s of timings) {
      const ref = reference.find((x) => x.seq === s.seq);
      if (!ref) continue;
      const ptsDelta = s.startPtsMs - ref.startPtsMs;
      const pdtDelta = (s.programDateTime ?? NaN) - (ref.programDateTime ?? NaN);
      rows.push({ key, seq: s.seq, ptsDelta, pdtDelta, pts: s.startPtsMs, refPts: ref.startPtsMs });
      deltas.push(`#${s.seq} PTS ${s.startPtsMs.toFixed(0)} (${ptsDelta >= 0 ? '+' : ''}${ptsDelta.toFixed(0)}) PDT ${pdtDelta >= 0 ? '+' : ''}${pdtDelta}`);
    }
    t.log(`${key.padEnd(6)} ${deltas.join('; ')}`);
  }
  return rows;
}

// Renditions cut on the same keyframes: the segmenter decides on the keyframes' presentation
// time. A constant offset of up to about a frame and a half remains for renditions from a
// B-frame encoder while source timestamps start near 0 (ffmpeg shifts them so that no DTS is
// negative); the per-entry wall-clock timeline of issue #6 removes it.
// A rendition's first segment may be partial (the transcoder joined the source at a later
// keyframe), so it starts later than the source's segment of the same number; every later
// boundary must match.
test.serial('a. segment boundaries line up across renditions (first PTS of the same media sequence number within 50 ms)', (t) => {
  const rows = alignment(t);
  const firstSeq = new Map<string, number>();
  for (const r of rows) firstSeq.set(r.key, Math.min(firstSeq.get(r.key) ?? Infinity, r.seq));
  const misaligned = rows
    .filter((r) => r.seq !== firstSeq.get(r.key))
    // Audio-only renditions cut on the wall-clock grid itself (they have no keyframes), video
    // ones at the first keyframe past it, so only video renditions share boundaries.
    .filter((r) => r.key !== 'audio')
    .filter((r) => !(Math.abs(r.ptsDelta) < 50))
    .map((r) => `${r.key} seq ${r.seq} starts at PTS ${r.pts} ms, the source's at ${r.refPts} ms`);
  t.deepEqual(misaligned, []);
});

// Every rendition is on the entry's wall-clock timeline (transcoder outputs are unwrapped, not
// rebased), and a segment is dated by its opening keyframe's presentation time, so video
// renditions agree; audio-only ones cut on the grid itself (see the test above). As there, a
// rendition's first segment may be partial (its transcoder joined the source at a later
// keyframe, a GOP later on a loaded machine) and so starts, and is dated, later.
test.serial('a. the same media sequence number carries the same EXT-X-PROGRAM-DATE-TIME in every video rendition (within one frame)', (t) => {
  const FRAME_MS = 1000 / 30;
  const rows = alignment(t);
  const firstSeq = new Map<string, number>();
  for (const r of rows) firstSeq.set(r.key, Math.min(firstSeq.get(r.key) ?? Infinity, r.seq));
  const off = rows
    .filter((r) => r.seq !== firstSeq.get(r.key))
    .filter((r) => r.key !== 'audio')
    .filter((r) => !(Math.abs(r.pdtDelta) <= FRAME_MS))
    .map((r) => `${r.key} seq ${r.seq}: PROGRAM-DATE-TIME ${r.pdtDelta >= 0 ? '+' : ''}${r.pdtDelta} ms from the source's`);
  t.deepEqual(off, []);
});

// ---------------------------------------------------------------------------------------------
// b. Transcoder crash

test.serial('b. ffmpeg killed mid-stream: restarted, the playlists continue behind a discontinuity; the crash is in /diagnostics/errors', async (t) => {
  t.timeout(90_000);
  const adminToken = 'hls-e2e-admin-token-0123456789';
  const env = await setup(t, [{ id: KILL, flavorParamsIds: [FLAVOR.source, FLAVOR.sd360, FLAVOR.audioOnly], segmentDuration: TARGET_S * 1000 }], {
    admin: { host: '127.0.0.1', port: 0, token: adminToken },
  });
  publish(t, env, KILL, { seconds: 45, size: '640x360', rate: 30, videoKbps: 800, noise: 0, codecIdStrings: true });
  const transcoded = [`${KILL}_${FLAVOR.sd360}`, `${KILL}_${FLAVOR.audioOnly}`];
  const relay = `${KILL}_${FLAVOR.source}`;
  const before = new Map<string, MediaPlaylist>();
  await Promise.all([...transcoded, relay].map(async (s) => before.set(s, await waitForSegments(env.origin, s, 2, 40_000))));

  const pipeline = env.daemon.transcodes.pipeline(`${KILL}_1`);
  const pid = pipeline?.ffmpeg?.pid ?? null;
  if (pid === null) {
    t.fail('no transcoder pid');
    return;
  }
  t.true(processExists(pid));
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');

  const restarted = await until('ffmpeg to be restarted', 15_000, () => {
    const s = env.daemon.transcodes.pipeline(`${KILL}_1`)?.ffmpeg?.stats();
    return s && s.pid !== null && s.pid !== pid && s.restarts >= 1 ? s : undefined;
  });
  t.log(`killed ${pid}; restarted as ${restarted.pid} after ${Date.now() - killedAt} ms (restarts ${restarted.restarts})`);
  t.like(restarted.lastExit, { pid, signal: 'SIGKILL', restarting: true });
  t.false(processExists(pid), 'the killed ffmpeg is gone (reaped)');
  // The crash reaches the operator: /diagnostics/errors lists it as a transcoder error.
  const plane = env.daemon.controlPlane;
  if (!plane) return t.fail('no control plane');
  const errors = await httpRequest(`${plane.url}/diagnostics/errors`, { headers: { Authorization: `Bearer ${adminToken}` } });
  t.is(errors.status, 200);
  const report = JSON.parse(errors.body.toString('utf8')) as { errors: Array<{ kind: string; message: string; entryId?: string }>; totals: Record<string, number> };
  const crash = report.errors.find((e) => e.kind === 'transcoder');
  t.truthy(crash, JSON.stringify(report));
  t.regex(crash?.message ?? '', /SIGKILL|signal|exited/i, crash?.message);
  t.true((report.totals.transcoder ?? 0) >= 1);

  // Each transcoded rendition: the same playlist continues, a discontinuity, then new segments.
  for (const stream of transcoded) {
    const old = before.get(stream) as MediaPlaylist;
    const lastBefore = old.segments[old.segments.length - 1];
    const after = await until(`${stream}: two segments after a discontinuity`, 30_000, async () => {
      const p = await fetchMedia(env.origin, stream);
      const i = p?.segments.findIndex((s) => s.discontinuity && s.seq > lastBefore.seq) ?? -1;
      return p && i >= 0 && p.segments.length - i >= 2 ? p : undefined;
    }, 250);
    const disc = after.segments.find((s) => s.discontinuity && s.seq > lastBefore.seq) as MediaSegment;
    const beforeDisc = after.segments.filter((s) => s.seq < disc.seq);
    t.true(after.mediaSequence >= old.mediaSequence, `${stream}: media sequence ${old.mediaSequence} → ${after.mediaSequence}`);
    t.true(after.segments.some((s) => s.seq === lastBefore.seq && s.uri === lastBefore.uri), `${stream}: the segments from before the crash are still listed (the same playlist)`);
    t.is(after.discontinuitySequence, 0, `${stream}: no discontinuity has left the window yet`);
    // Consecutive numbering across the discontinuity.
    after.segments.forEach((s, i) => t.is(s.seq, after.mediaSequence + i));
    const gapMs = disc.programDateTime !== undefined && beforeDisc.length > 0 ? disc.programDateTime - ((beforeDisc[beforeDisc.length - 1].programDateTime ?? NaN) + beforeDisc[beforeDisc.length - 1].duration * 1000) : NaN;
    t.log(`${stream}: seq ${old.segments[0].seq}..${lastBefore.seq} before, discontinuity at seq ${disc.seq}, now ${after.segments.map((s) => `${s.discontinuity ? '|' : ''}${s.seq}:${s.duration}`).join(' ')}; media gap ${gapMs} ms`);
    // The new segments play: decodable TS, the sync point continues the numbering.
    for (const s of after.segments.filter((x) => x.seq >= disc.seq)) {
      const ts = parseTs(await fetchSegment(env.origin, stream, s));
      t.is(ts.errors, 0);
      t.is((syncPoints(ts)[0]?.json as { id?: string } | undefined)?.id, `${stream}_${s.seq}`);
      t.not(firstPtsMs(ts, stream.endsWith(`_${FLAVOR.audioOnly}`) ? STREAM_TYPE.aac : STREAM_TYPE.h264), undefined);
    }
  }
  // The relay never went through ffmpeg: no discontinuity there.
  const relayNow = await fetchMedia(env.origin, relay);
  t.false(relayNow?.segments.some((s) => s.discontinuity) ?? true, 'the passthrough rendition is untouched');
});

// ---------------------------------------------------------------------------------------------
// c. Passthrough only

/** ffmpeg children of this process working for `entryId`, apart from the encoders. */
function transcodersOf(entryId: string, encoders: Running[]): number[] {
  const encoderPids = new Set(encoders.map((e) => e.child.pid));
  return childProcesses('ffmpeg')
    .filter((p) => !encoderPids.has(p.pid) && p.argv.some((a) => a.includes(entryId)))
    .map((p) => p.pid);
}

test('c. passthrough-only profile: no ffmpeg, HLS still served (media and master)', async (t) => {
  t.timeout(60_000);
  const env = await setup(t, [{ id: PASS, flavorParamsIds: [FLAVOR.source], segmentDuration: TARGET_S * 1000 }]);
  const { encoder } = publish(t, env, PASS, { seconds: 30, size: '426x240', videoKbps: 400, noise: 0, codecIdStrings: true });
  const stream = `${PASS}_${FLAVOR.source}`;
  const playlist = await waitForSegments(env.origin, stream, 2, 30_000);

  const stats = env.daemon.transcodes.stats();
  t.is(stats.length, 1);
  t.deepEqual(stats[0].renditions.map((r) => `${r.streamName}:${r.kind}`), [`${stream}:relay`]);
  t.is(stats[0].ffmpeg, undefined, 'no transcoder in the pipeline');
  t.is(env.daemon.transcodes.pipeline(`${PASS}_1`)?.ffmpeg, undefined);
  t.deepEqual(transcodersOf(PASS, [encoder]), [], 'no ffmpeg process for this entry besides the encoder');
  t.true(childProcesses('ffmpeg').some((p) => p.pid === encoder.child.pid), 'the /proc scan does see our ffmpeg children');

  t.is(playlist.targetDuration, TARGET_S);
  const bytes = await fetchSegment(env.origin, stream, playlist.segments[playlist.segments.length - 1]);
  const ts = parseTs(bytes);
  t.not(firstPtsMs(ts, STREAM_TYPE.h264), undefined);
  t.not(firstPtsMs(ts, STREAM_TYPE.aac), undefined);
  t.is((syncPoints(ts)[0]?.json as { id?: string } | undefined)?.id, `${stream}_${playlist.segments[playlist.segments.length - 1].seq}`);
  for (const group of [`${PASS}_1_all`, `${PASS}_all`, `${PASS}_${FLAVOR.source}`]) {
    const variants = parseMaster((await getOk(masterUrl(env.origin, group))).toString('utf8'));
    t.deepEqual(variants.map((v) => v.uri), [`../${stream}/playlist.m3u8`], `smil:${group}.smil`);
    t.deepEqual(variants[0]?.resolution, { width: 426, height: 240 });
  }
  // Still no transcoder after the stream has run a while.
  t.deepEqual(transcodersOf(PASS, [encoder]), []);
});

// Known bug (see the report): the orchestrator sends the encoder's onMetaData to
// wowza_liveConversionProfile.serve as is. ffmpeg, OBS and most encoders send numeric codec
// ids (audiocodecid 10) and no audiocodecidstring; the old server added
// videocodecidstring/audiocodecidstring (FLVUtils names, "H264"/"AAC"), and without "AAC"
// Kaltura answers Audio AAC (re-encode) instead of PassThru for the ingest flavor, so a
// passthrough-only profile starts an ffmpeg.
test('c. passthrough-only profile with a plain ffmpeg encoder (numeric codec ids in onMetaData): no ffmpeg', async (t) => {
  t.timeout(60_000);
  const env = await setup(t, [{ id: PASS_PLAIN, flavorParamsIds: [FLAVOR.source], segmentDuration: TARGET_S * 1000 }]);
  const { encoder } = publish(t, env, PASS_PLAIN, { seconds: 20, size: '426x240', videoKbps: 400, noise: 0 });
  await waitForSegments(env.origin, `${PASS_PLAIN}_${FLAVOR.source}`, 1, 30_000);
  const serve = env.emulator.callsOf('wowza_liveconversionprofile', 'serve').map((c) => c.params.extraParams).filter((p): p is string => typeof p === 'string');
  t.log(`extraParams sent: ${serve.join(' | ')}`);
  t.true(serve.some((p) => (JSON.parse(p) as Record<string, unknown>).audiocodecidstring === 'AAC'), 'extraParams carry audiocodecidstring AAC');
  t.is(env.daemon.transcodes.stats()[0]?.ffmpeg, undefined, 'no transcoder in the pipeline');
  t.deepEqual(transcodersOf(PASS_PLAIN, [encoder]), []);
});

// ---------------------------------------------------------------------------------------------
// d. Origin headers and lock

test('d. origin headers on real responses: X-Me, no Server, cache-control, CORS, HEAD, ranges, 404, 403 without the lock header', async (t) => {
  t.timeout(60_000);
  const lock = { headerName: 'X-Klive-Origin', headerValue: 'let-me-in' };
  const env = await setup(t, [{ id: HEADERS, flavorParamsIds: [FLAVOR.source], segmentDuration: TARGET_S * 1000 }], {
    limitOrigin: lock,
    http: { host: '127.0.0.1', port: 0 },
  });
  publish(t, env, HEADERS, { seconds: 30, size: '426x240', videoKbps: 400, noise: 0, codecIdStrings: true });
  const stream = `${HEADERS}_${FLAVOR.source}`;
  const withLock = { [lock.headerName]: lock.headerValue };
  const playlist = await waitForSegments(env.origin, stream, 1, 30_000, withLock);
  const httpPort = env.daemon.ingest.httpPort;
  if (httpPort === undefined) {
    t.fail('no separate HTTP port');
    return;
  }

  const common = (what: string, r: Awaited<ReturnType<typeof httpRequest>>) => {
    t.is(r.headers['x-me'], HLS_TEST_HOST, `${what}: X-Me`);
    t.false(r.headerNames.includes('server'), `${what}: no Server header`);
    t.is(r.headers['access-control-allow-origin'], '*', `${what}: CORS`);
  };
  for (const origin of [env.origin, `http://127.0.0.1:${httpPort}`]) {
    const port = origin === env.origin ? 'RTMP port' : 'HTTP port';
    const segmentUrl = `${origin}/kLive/${stream}/${playlist.segments[0].uri}`;
    const urls = { master: masterUrl(origin, `${HEADERS}_1_all`), media: mediaUrl(origin, stream), dvr: mediaUrl(origin, stream, '?DVR'), segment: segmentUrl };

    for (const [what, url] of Object.entries(urls)) {
      const r = await httpRequest(url, { headers: withLock });
      t.is(r.status, 200, `${port} ${what}`);
      common(`${port} ${what}`, r);
      if (what === 'segment') {
        t.is(r.headers['cache-control'], 'max-age=86400, immutable', `${port} segment cache`);
        t.is(r.headers['content-type'], 'video/mp2t');
        t.is(r.body[0], 0x47);
        t.is(Number(r.headers['content-length']), r.body.length);
      } else {
        t.is(r.headers['cache-control'], 'max-age=1', `${port} ${what} cache`);
        t.is(r.headers['content-type'], 'application/vnd.apple.mpegurl');
        t.true(r.body.toString('utf8').startsWith('#EXTM3U'));
      }
    }
    const full = await httpRequest(segmentUrl, { headers: withLock });
    // HEAD: the headers of GET, no body.
    const head = await httpRequest(segmentUrl, { method: 'HEAD', headers: withLock });
    t.is(head.status, 200);
    t.is(head.body.length, 0);
    t.is(Number(head.headers['content-length']), full.body.length);
    common(`${port} HEAD`, head);
    const headPlaylist = await httpRequest(urls.media, { method: 'HEAD', headers: withLock });
    t.is(headPlaylist.status, 200);
    t.is(headPlaylist.headers['cache-control'], 'max-age=1');
    // A byte range.
    const range = await httpRequest(segmentUrl, { headers: { ...withLock, Range: 'bytes=188-375' } });
    t.is(range.status, 206);
    t.is(range.headers['content-range'], `bytes 188-375/${full.body.length}`);
    t.deepEqual(range.body, full.body.subarray(188, 376));
    // CORS preflight.
    const preflight = await httpRequest(urls.master, { method: 'OPTIONS', headers: { ...withLock, Origin: 'https://player.example', 'Access-Control-Request-Method': 'GET' } });
    t.true(preflight.status === 200 || preflight.status === 204, `${port} preflight ${preflight.status}`);
    t.regex(String(preflight.headers['access-control-allow-methods']), /GET/);
    common(`${port} preflight`, preflight);

    // Unknown stream, group, segment: 404 (with X-Me, no Server).
    for (const url of [mediaUrl(origin, `${HEADERS}_99`), masterUrl(origin, '0_nosuch99_1_all'), `${origin}/kLive/${stream}/seg-nope-1.ts`, `${origin}/other/${stream}/playlist.m3u8`]) {
      const r = await httpRequest(url, { headers: withLock });
      t.is(r.status, 404, `${port} ${url}`);
      common(`${port} 404`, r);
    }
    // The lock: no header or a wrong value → 403, on every kind of URL.
    for (const url of [...Object.values(urls), mediaUrl(origin, `${HEADERS}_99`)]) {
      for (const headers of [{}, { [lock.headerName]: 'wrong' }]) {
        const r = await httpRequest(url, { headers });
        t.is(r.status, 403, `${port} ${url} with ${JSON.stringify(headers)}`);
        common(`${port} 403`, r);
      }
    }
    const headLocked = await httpRequest(segmentUrl, { method: 'HEAD' });
    t.is(headLocked.status, 403);
  }
});

// The parse helpers are exercised by the tests above; a playlist without EXTINF is an error.
test('helpers: a media playlist is parsed with sequence numbers, PDT and discontinuities', (t) => {
  const p = parseMedia('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:2.000,\na.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.5,\nb.ts\n');
  t.deepEqual(p.segments.map((s) => [s.seq, s.uri, s.duration, s.discontinuity]), [[7, 'a.ts', 2, false], [8, 'b.ts', 1.5, true]]);
  t.is(p.segments[0].programDateTime, Date.UTC(2026, 0, 1));
  t.throws(() => parseMedia('#EXTM3U\nx.ts\n'));
});
