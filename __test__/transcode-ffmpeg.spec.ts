/**
 * Plan → ffmpeg argv → a real ffmpeg, and the supervisor around it.
 *
 * The ladder test encodes a real 720p30 clip with the argv built from the emulator's template
 * and checks every rendition with ffprobe (codec, size, bitrate, keyframe timestamps). The
 * supervisor tests kill real processes: kill -9 of ffmpeg (restart), SIGTERM-deaf children
 * (SIGKILL escalation) and SIGKILL of the parent node process (no orphan, via pdeathsig).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

import { join } from 'node:path';
import { tempDir } from './helpers/media';
import { DEMO_ENTRY_ID, DEMO_MBR_ENTRY_ID, DEMO_PASSTHROUGH_ENTRY_ID, demoFixtures, startKalturaEmulator } from '../src/dev';
import {
  FfmpegArgsError,
  FfmpegError,
  FfmpegSupervisor,
  ProgressParser,
  buildFfmpegArgs,
  findSetpriv,
  parseTranscodePlan,
  planNeedsFfmpeg,
  probeFfmpeg,
  renditionSize,
  resolveFfmpeg,
  resolveFfprobe,
  unsupportedParameters,
  type ExitedEvent,
  type FfmpegIo,
  type FfmpegProgress,
  type FfmpegSupervisorEvents,
  type StartedEvent,
  type TranscodeEncode,
  type TranscodePlan,
} from '../src/transcode';

const FFMPEG = resolveFfmpeg().path;
const FFPROBE = resolveFfprobe().path;

function scratch(t: ExecutionContext, prefix: string): string {
  const dir = tempDir(prefix);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Runs a command to completion without blocking the event loop: the supervisor tests in this
 * file time process deaths concurrently and must not be starved by a 2 s encode.
 */
function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The template the emulator serves for a stream, parsed. */
async function servedPlan(streamName: string, metadata: Record<string, unknown>): Promise<TranscodePlan> {
  const emu = await startKalturaEmulator({ fixtures: demoFixtures() });
  try {
    const q = `?extraParams=${encodeURIComponent(JSON.stringify(metadata))}`;
    const res = await fetch(`${emu.url}/api_v3/index.php/service/wowza_liveConversionProfile/action/serve/streamName/${streamName}${q}`);
    return parseTranscodePlan(await res.text(), { streamName });
  } finally {
    await emu.stop();
  }
}

const SOURCE_720 = { width: 1280, height: 720, framerate: 30, videodatarate: 6000, audiodatarate: 160, audiocodecidstring: 'AAC' };
const sockFor = (e: TranscodeEncode) => `unix:/tmp/klive/out-${e.streamName}.sock`;

/** The argv segment of each output (options since the previous output), keyed by its URL. */
function outputs(args: string[], urls: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let start = args.indexOf('-filter_complex') >= 0 ? args.indexOf('-filter_complex') + 2 : args.indexOf('-i') + 2;
  for (let i = start; i < args.length; i++) {
    if (urls.includes(args[i]) && args[i - 1] !== '-i') {
      out.set(args[i], args.slice(start, i));
      start = i + 1;
    }
  }
  return out;
}

/** The value following `flag` in an argv segment. */
function opt(segment: string[] | undefined, flag: string): string | undefined {
  if (!segment) return undefined;
  const i = segment.indexOf(flag);
  return i >= 0 ? segment[i + 1] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Arguments

test('args: transcoded ladder → one process, split + scale per rendition, x264 per profile, copy and audio-only outputs', async (t) => {
  const plan = await servedPlan(`${DEMO_ENTRY_ID}_1`, SOURCE_720);
  const io: FfmpegIo = { input: 'unix:/tmp/klive/in.sock', outputFor: sockFor, source: { width: 1280, height: 720, frameRate: 30 } };
  const args = buildFfmpegArgs(plan, io);
  t.deepEqual(args.slice(0, 14), [
    '-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats', '-progress', 'pipe:1',
    '-copyts', '-flags', 'low_delay', '-f', 'flv', '-i', 'unix:/tmp/klive/in.sock',
  ]);
  t.false(args.includes('nobuffer'), '-fflags nobuffer drops the probed packets (first GOP)');
  t.is(args.filter((a) => a === '-i').length, 1, 'the source is read once');
  t.is(
    opt(args, '-filter_complex'),
    "[0:v:0]split=3[s0][s1][s2];[s0]scale=w=-2:h='2*trunc(min(720,ih)/2)',format=yuv420p[v0];" +
      "[s1]scale=w=-2:h='2*trunc(min(480,ih)/2)',format=yuv420p[v1];[s2]scale=w=-2:h='2*trunc(min(360,ih)/2)',format=yuv420p[v2]",
  );

  const urls = plan.encodes.map(sockFor);
  const out = outputs(args, urls);
  t.is(out.size, 5);
  const [source, hd, sd480, sd360, audio] = urls.map((u) => out.get(u));
  for (const segment of out.values()) {
    t.deepEqual(segment.slice(-8), ['-max_muxing_queue_size', '1024', '-f', 'flv', '-flvflags', 'no_duration_filesize', '-flush_packets', '1']);
  }
  t.deepEqual(source?.slice(0, 8), ['-map', '0:v:0?', '-c:v', 'copy', '-map', '0:a:0?', '-c:a', 'copy']);
  t.deepEqual(hd?.slice(0, 2), ['-map', '[v0]']);
  t.like(
    { codec: opt(hd, '-c:v'), preset: opt(hd, '-preset'), profile: opt(hd, '-profile:v'), b: opt(hd, '-b:v'), min: opt(hd, '-minrate'), max: opt(hd, '-maxrate'), buf: opt(hd, '-bufsize'), x264: opt(hd, '-x264-params') },
    { codec: 'libx264', preset: 'veryfast', profile: 'main', b: '2500000', min: '2500000', max: '2500000', buf: '2500000', x264: 'nal-hrd=cbr' },
    'constant bitrate (mainconcept.bit_rate_mode 0)',
  );
  for (const seg of [hd, sd480, sd360]) {
    t.is(opt(seg, '-force_key_frames:v'), 'source');
    t.is(opt(seg, '-sc_threshold'), '0');
    t.is(opt(seg, '-forced-idr'), '1');
    t.is(opt(seg, '-g'), '600', 'x264 adds a keyframe only after 20 s without one from the source');
    t.is(opt(seg, '-c:a'), 'aac');
  }
  t.like({ map: opt(sd480, '-map'), profile: opt(sd480, '-profile:v'), b: opt(sd480, '-b:v'), max: opt(sd480, '-maxrate'), buf: opt(sd480, '-bufsize'), ab: opt(sd480, '-b:a') }, { map: '[v1]', profile: 'main', b: '1200000', max: '1200000', buf: '2400000', ab: '96000' });
  t.false(sd480?.includes('-minrate'));
  t.like({ map: opt(sd360, '-map'), profile: opt(sd360, '-profile:v'), b: opt(sd360, '-b:v'), ab: opt(sd360, '-b:a') }, { map: '[v2]', profile: 'baseline', b: '600000', ab: '64000' });
  t.deepEqual(audio?.slice(0, 5), ['-vn', '-map', '0:a:0?', '-c:a', 'copy']);
  t.deepEqual(unsupportedParameters(plan), []);

  // The core serving the pure passthrough itself: ffmpeg only makes the other four.
  const without = buildFfmpegArgs(plan, { ...io, outputFor: (e) => (e.name === 'Source' ? null : sockFor(e)) });
  t.false(without.includes(sockFor(plan.encodes[0])));
  t.is(outputs(without, urls).size, 4);
});

test('args: passthrough profiles start no ffmpeg; MP3 audio gets a copy + AAC process; multi-bitrate ingests copy', async (t) => {
  const io = (outputFor: FfmpegIo['outputFor']): FfmpegIo => ({ input: 'in.flv', outputFor, source: { width: 1280, height: 720, frameRate: 30 } });
  const pass = await servedPlan(`${DEMO_PASSTHROUGH_ENTRY_ID}_1`, SOURCE_720);
  t.false(planNeedsFfmpeg(pass));
  const none = t.throws(() => buildFfmpegArgs(pass, io(() => null)), { instanceOf: FfmpegArgsError });
  t.is(none?.code, 'NO_OUTPUTS');

  const mp3 = await servedPlan(`${DEMO_PASSTHROUGH_ENTRY_ID}_1`, { ...SOURCE_720, audiocodecidstring: 'MP3' });
  t.true(planNeedsFfmpeg(mp3));
  const args = buildFfmpegArgs(mp3, io(sockFor));
  t.false(args.includes('-filter_complex'), 'no video is decoded for a video copy');
  t.deepEqual(outputs(args, [sockFor(mp3.encodes[0])]).get(sockFor(mp3.encodes[0]))?.slice(0, 10), ['-map', '0:v:0?', '-c:v', 'copy', '-map', '0:a:0?', '-c:a', 'aac', '-b:a', '96000']);

  for (const n of [1, 2]) {
    const mbr = await servedPlan(`${DEMO_MBR_ENTRY_ID}_${n}`, SOURCE_720);
    t.false(planNeedsFfmpeg(mbr));
    t.is(buildFfmpegArgs(mbr, io(sockFor)).filter((a) => a === 'copy').length, 2);
  }
});

const FALLBACK_XML = `<?xml version="1.0"?><Root><Transcode><Encodes>
  <Encode><Name>fixed</Name><StreamName>s_fixed</StreamName><Video><Codec>H.264</Codec><Profile>high</Profile><Bitrate>300000</Bitrate>
    <FrameSize><FitMode>fit-width</FitMode><Width>320</Width></FrameSize><KeyFrameInterval><FollowSource>false</FollowSource><Interval>48</Interval></KeyFrameInterval>
    <SkipFrameCount><Value>1</Value></SkipFrameCount>
    <Parameters><Parameter><Name>x264.preset</Name><Value>ultrafast</Value></Parameter><Parameter><Name>mainconcept.gop_type</Name><Value>1</Value></Parameter></Parameters></Video>
    <Audio><Codec>Disable</Codec></Audio></Encode>
  <Encode><Name>flash</Name><StreamName>s_flash</StreamName><Video><Codec>H.263</Codec><Profile>main</Profile><FrameSize><FitMode>match-source</FitMode></FrameSize></Video>
    <Audio><Codec>AAC</Codec></Audio></Encode>
  <Encode><Name>follow</Name><StreamName>s_follow</StreamName><Video><Codec>H.264</Codec><Bitrate>200000</Bitrate>
    <FrameSize><FitMode>fit-height</FitMode><Width>1</Width><Height>90</Height></FrameSize><KeyFrameInterval><FollowSource>true</FollowSource><Interval>60</Interval></KeyFrameInterval></Video>
    <Audio><Codec>AAC</Codec><Bitrate>48000</Bitrate></Audio></Encode>
</Encodes></Transcode></Root>`;

const fallbackPlan = () => parseTranscodePlan(FALLBACK_XML, { streamName: 's' });

test('args: fixed GOP, frame skipping, H.263 as H.264 baseline, keyframe expression for old builds, missing tracks', (t) => {
  const plan = fallbackPlan();
  const urls = plan.encodes.map((e) => `${e.name}.flv`);
  const io: FfmpegIo = { input: 'in.flv', outputFor: (e) => `${e.name}.flv`, source: { width: 320, height: 180, frameRate: 30, audioBitrate: 128_000 } };
  const args = buildFfmpegArgs(plan, io);
  t.regex(opt(args, '-filter_complex') ?? '', /^\[0:v:0\]split=3.*\[s0\]select='key\+not\(mod\(n,2\)\)',scale=w='2\*trunc\(min\(320,iw\)\/2\)':h=-2,format=yuv420p\[v0\]/);
  const out = outputs(args, urls);
  const [fixed, flash, follow] = urls.map((u) => out.get(u));
  t.like({ g: opt(fixed, '-g'), min: opt(fixed, '-keyint_min'), preset: opt(fixed, '-preset'), profile: opt(fixed, '-profile:v') }, { g: '48', min: '48', preset: 'ultrafast', profile: 'high' });
  t.is(opt(fixed, '-force_key_frames:v'), undefined);
  t.true(fixed?.includes('-an'));
  t.like({ codec: opt(flash, '-c:v'), profile: opt(flash, '-profile:v'), b: opt(flash, '-b:v'), ab: opt(flash, '-b:a') }, { codec: 'libx264', profile: 'baseline', b: '240000', ab: '128000' });
  t.is(opt(follow, '-force_key_frames:v'), 'source');
  t.deepEqual(unsupportedParameters(plan), ['fixed: mainconcept.gop_type']);

  // Without `-force_key_frames source`: a keyframe every source GOP, relative to the last one.
  const old = buildFfmpegArgs(plan, { ...io, source: { ...io.source, gopSeconds: 2 } }, { forceKeyFramesSource: false });
  t.is(opt(outputs(old, urls).get('follow.flv'), '-force_key_frames:v'), 'expr:if(isnan(prev_forced_t),1,gte(t,prev_forced_t+1.983))');
  const guessed = buildFfmpegArgs(plan, { ...io, source: { ...io.source, frameRate: 25 } }, { forceKeyFramesSource: false });
  t.is(opt(outputs(guessed, urls).get('follow.flv'), '-force_key_frames:v'), 'expr:if(isnan(prev_forced_t),1,gte(t,prev_forced_t+2.38))', 'Interval 60 at 25 fps');

  // An audio-only source: the video renditions become audio-only, the video-only one is dropped.
  const noVideo = buildFfmpegArgs(plan, { ...io, source: { ...io.source, hasVideo: false } });
  t.false(noVideo.includes('-filter_complex'));
  t.deepEqual([...outputs(noVideo, urls).keys()], ['flash.flv', 'follow.flv']);
  const noAudio = buildFfmpegArgs(plan, { ...io, source: { ...io.source, hasAudio: false } });
  t.false(noAudio.includes('0:a:0?'));
});

test('renditionSize: FitModes, even dimensions, never larger than the source', (t) => {
  const src = { width: 1280, height: 720 };
  t.deepEqual(renditionSize({ fitMode: 'fit-height', width: 1280, height: 720 }, src), { width: 1280, height: 720 });
  t.deepEqual(renditionSize({ fitMode: 'fit-height', width: 854, height: 480 }, src), { width: 854, height: 480 });
  t.deepEqual(renditionSize({ fitMode: 'fit-height', width: 640, height: 360 }, src), { width: 640, height: 360 });
  t.deepEqual(renditionSize({ fitMode: 'fit-height', height: 1080 }, src), { width: 1280, height: 720 }, 'no upscale');
  t.deepEqual(renditionSize({ fitMode: 'fit-height', width: 640, height: 360 }, { width: 640, height: 480 }), { width: 480, height: 360 }, '4:3 keeps its aspect');
  t.deepEqual(renditionSize({ fitMode: 'fit-width', width: 320 }, src), { width: 320, height: 180 });
  t.deepEqual(renditionSize({ fitMode: 'fit-width', width: 4000 }, src), { width: 1280, height: 720 });
  t.deepEqual(renditionSize({ fitMode: 'match-source' }, { width: 853, height: 481 }), { width: 852, height: 480 });
  t.deepEqual(renditionSize(undefined, src), { width: 1280, height: 720 });
  t.is(renditionSize({ fitMode: 'fit-height', height: 360 }, { width: 0, height: 0 }), null);
});

// ---------------------------------------------------------------------------------------------
// Binaries

test('resolveFfmpeg / resolveFfprobe: config → KLIVE_FFMPEG → PATH → npm package, and loud errors', async (t) => {
  const sys = (await run('sh', ['-c', 'command -v ffmpeg'])).stdout.trim();
  const env = { PATH: '' };
  if (sys) {
    t.deepEqual(resolveFfmpeg(sys, { env: { KLIVE_FFMPEG: '/nonexistent' } }), { path: sys, source: 'config' });
    t.deepEqual(resolveFfmpeg(undefined, { env: { KLIVE_FFMPEG: sys, PATH: '' } }), { path: sys, source: 'env' });
    t.deepEqual(resolveFfmpeg('ffmpeg', { env: { PATH: '/nonexistent:/usr/bin:/bin' } }).source, 'config', 'a bare configured name is looked up on PATH');
    t.deepEqual(resolveFfmpeg(undefined, { env: { PATH: `/nonexistent:${sys.replace(/\/ffmpeg$/, '')}` } }), { path: sys, source: 'path' });
  }
  const npm = resolveFfmpeg(undefined, { env });
  t.is(npm.source, 'npm');
  t.regex(npm.path, /node_modules\/@ffmpeg-installer\/linux-x64\/ffmpeg$/);
  t.regex(resolveFfprobe(undefined, { env }).path, /node_modules\/@ffprobe-installer\/linux-x64\/ffprobe$/);

  const code = (f: () => unknown) => (t.throws(f, { instanceOf: FfmpegError }) as FfmpegError | undefined)?.code;
  t.is(code(() => resolveFfmpeg('/nonexistent/ffmpeg')), 'FFMPEG_UNUSABLE', 'a configured path never falls through');
  const notExecutable = join(scratch(t, 'notexec'), 'ffmpeg');
  writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
  t.is(code(() => resolveFfmpeg(undefined, { env: { KLIVE_FFMPEG: notExecutable } })), 'FFMPEG_UNUSABLE');
  t.is(code(() => resolveFfmpeg('no-such-ffmpeg', { env })), 'FFMPEG_NOT_FOUND');
  t.is(code(() => resolveFfmpeg(undefined, { env, npm: false })), 'FFMPEG_NOT_FOUND');
});

/** The binaries to run the argument variants on: the resolved one and the npm package's. */
function binaries(): Array<[string, string]> {
  const list: Array<[string, string]> = [['resolved', FFMPEG]];
  try {
    const npm = resolveFfmpeg(undefined, { env: { PATH: '' } });
    if (npm.path !== FFMPEG) list.push(['npm', npm.path]);
  } catch {
    // The optional dependency is absent on this platform.
  }
  return list;
}

test('probeFfmpeg: version, libx264, aac and -force_key_frames source on every available build', async (t) => {
  for (const [label, path] of binaries()) {
    const caps = await probeFfmpeg(path);
    t.regex(caps.versionLine, /^ffmpeg version \S+/, label);
    t.like(caps, { libx264: true, aac: true, forceKeyFramesSource: true }, `${label}: ${caps.versionLine}`);
    t.log(`${label}: ${caps.versionLine}`);
  }
  const bad = await t.throwsAsync(() => probeFfmpeg('/bin/false'), { instanceOf: FfmpegError });
  t.is(bad?.code, 'FFMPEG_UNUSABLE');
});

/** An FLV test clip: H.264 (keyframes at `keyframes`, offset by `offset` s) + stereo AAC noise. */
async function makeClip(dir: string, o: { size: string; seconds: number; keyframes: string; bitrate: string; offset: number }): Promise<string> {
  const path = join(dir, `clip-${o.size}.flv`);
  const r = await run(FFMPEG, [
    '-hide_banner', '-loglevel', 'error', '-y',
    // Temporal noise over testsrc2: enough detail that the encoders reach their bitrates.
    '-f', 'lavfi', '-i', `testsrc2=size=${o.size}:rate=30,noise=alls=20:allf=t`,
    // Independent noise per channel, so AAC spends its bitrate too.
    '-f', 'lavfi', '-i', 'aevalsrc=(random(0)-0.5)*0.4|(random(1)-0.5)*0.4:s=44100',
    '-t', String(o.seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '1000', '-sc_threshold', '0', '-force_key_frames', o.keyframes,
    '-b:v', o.bitrate, '-maxrate', o.bitrate, '-bufsize', o.bitrate,
    '-c:a', 'aac', '-b:a', '160k',
    // Live sources arrive rebased onto wall-clock time, far from 0.
    '-output_ts_offset', String(o.offset),
    '-f', 'flv', path,
  ]);
  if (r.code !== 0) throw new Error(`making the clip failed: ${r.stderr}`);
  return path;
}

test('every argument variant runs on every available ffmpeg build', async (t) => {
  const dir = scratch(t, 'ffargs');
  const clip = await makeClip(dir, { size: '320x180', seconds: 1, keyframes: '0,0.5', bitrate: '1000k', offset: 5 });
  const plan = fallbackPlan();
  for (const [label, path] of binaries()) {
    for (const forceKeyFramesSource of [true, false]) {
      const args = buildFfmpegArgs(
        plan,
        { input: clip, outputFor: (e) => join(dir, `${label}-${forceKeyFramesSource}-${e.name}.flv`), source: { width: 320, height: 180, frameRate: 30, gopSeconds: 0.5 } },
        { forceKeyFramesSource },
      );
      const r = await run(path, ['-y', ...args]);
      t.is(r.code, 0, `${label} (source keyframes: ${forceKeyFramesSource}): ${r.stderr}`);
      t.regex(r.stdout, /progress=end/);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The real ladder

interface Packet {
  pts: number;
  size: number;
  key: boolean;
}

async function probe(file: string): Promise<{ streams: Array<{ codec_type: string; codec_name: string; width?: number; height?: number; profile?: string }>; video: Packet[]; audio: Packet[] }> {
  const r = await run(FFPROBE, ['-v', 'error', '-of', 'json', '-show_streams', '-show_entries', 'packet=stream_index,pts_time,size,flags', file]);
  if (r.code !== 0) throw new Error(`ffprobe ${file}: ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as {
    streams: Array<{ index: number; codec_type: string; codec_name: string; width?: number; height?: number; profile?: string }>;
    packets?: Array<{ stream_index: number; pts_time: string; size: string; flags: string }>;
  };
  const packetsOf = (type: string) => {
    const index = parsed.streams.find((s) => s.codec_type === type)?.index;
    return (parsed.packets ?? []).filter((p) => p.stream_index === index).map((p) => ({ pts: Number(p.pts_time), size: Number(p.size), key: p.flags.startsWith('K') }));
  };
  return { streams: parsed.streams, video: packetsOf('video'), audio: packetsOf('audio') };
}

/** bit/s over the span of the packets, counting the last packet's duration. */
function bitrate(packets: Packet[], packetSeconds: number): number {
  const bytes = packets.reduce((s, p) => s + p.size, 0);
  const pts = packets.map((p) => p.pts);
  return (bytes * 8) / (Math.max(...pts) - Math.min(...pts) + packetSeconds);
}

const keyframes = (packets: Packet[]) => packets.filter((p) => p.key).map((p) => p.pts.toFixed(3));

test('REAL ladder: 720p30 source → copy + 720p/480p/360p + audio-only; codecs, sizes, bitrates ±20 %, keyframes aligned with the source', async (t) => {
  const dir = scratch(t, 'ladder');
  // Irregular source keyframes: renditions can only match them by following the source.
  const clip = await makeClip(dir, { size: '1280x720', seconds: 4, keyframes: '0,0.9,2.2,3.1', bitrate: '6000k', offset: 10 });
  const plan = await servedPlan(`${DEMO_ENTRY_ID}_1`, SOURCE_720);
  t.deepEqual(plan.encodes.map((e) => e.name), ['Source', 'HD_720', 'SD_480', 'SD_360', 'Audio_only']);
  const fileFor = (e: TranscodeEncode) => join(dir, `${e.streamName}.flv`);
  const caps = await probeFfmpeg(FFMPEG);
  const args = buildFfmpegArgs(plan, { input: clip, outputFor: fileFor, source: { width: 1280, height: 720, frameRate: 30 } }, { forceKeyFramesSource: caps.forceKeyFramesSource });
  const started = Date.now();
  const r = await run(FFMPEG, ['-y', ...args], 120_000);
  t.is(r.code, 0, r.stderr);
  t.log(`ladder encode: ${Date.now() - started} ms with ${caps.versionLine}`);
  const last = new ProgressParser().push(r.stdout).at(-1);
  t.like(last, { end: true, frame: 120 });

  const source = await probe(clip);
  const sourceKeys = keyframes(source.video);
  t.deepEqual(sourceKeys, ['10.000', '10.900', '12.200', '13.100']);
  const expected: Record<string, { codec?: string; width?: number; height?: number; profile?: RegExp; videoBps?: number; audioBps: number }> = {
    Source: { codec: 'h264', width: 1280, height: 720, audioBps: 160_000 },
    HD_720: { codec: 'h264', width: 1280, height: 720, profile: /^Main$/, videoBps: 2_500_000, audioBps: 128_000 },
    SD_480: { codec: 'h264', width: 854, height: 480, profile: /^Main$/, videoBps: 1_200_000, audioBps: 96_000 },
    SD_360: { codec: 'h264', width: 640, height: 360, profile: /Baseline/, videoBps: 600_000, audioBps: 64_000 },
    Audio_only: { audioBps: 160_000 },
  };
  for (const encode of plan.encodes) {
    const want = expected[encode.name];
    const got = await probe(fileFor(encode));
    const video = got.streams.find((s) => s.codec_type === 'video');
    const audio = got.streams.find((s) => s.codec_type === 'audio');
    t.is(audio?.codec_name, 'aac', encode.name);
    const audioBps = bitrate(got.audio, 1024 / 44100);
    t.true(Math.abs(audioBps - want.audioBps) <= 0.2 * want.audioBps, `${encode.name} audio ${Math.round(audioBps)} bit/s, want ${want.audioBps}`);
    if (!want.codec) {
      t.is(video, undefined, `${encode.name} has no video`);
      continue;
    }
    t.is(video?.codec_name, want.codec, encode.name);
    t.true(Math.abs((video?.width ?? 0) - (want.width ?? 0)) <= 2 && Math.abs((video?.height ?? 0) - (want.height ?? 0)) <= 2, `${encode.name} is ${video?.width}x${video?.height}`);
    if (want.profile) t.regex(video?.profile ?? '', want.profile, encode.name);
    t.is(got.video.length, 120, `${encode.name}: every frame`);
    // Aligned GOPs: the same keyframe timestamps as the source, to the millisecond.
    t.deepEqual(keyframes(got.video), sourceKeys, `${encode.name} keyframes`);
    if (want.videoBps) {
      const bps = bitrate(got.video, 1 / 30);
      t.log(`${encode.name}: ${Math.round(bps / 1000)} kbit/s video (target ${want.videoBps / 1000})`);
      t.true(Math.abs(bps - want.videoBps) <= 0.2 * want.videoBps, `${encode.name} video ${Math.round(bps)} bit/s, want ${want.videoBps} ±20 %`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Supervisor

/** Alive and not a zombie (a SIGKILLed orphan may wait for a reaper that never comes). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Milliseconds until `pid` was seen gone, or null if it was still there after `withinMs`. */
async function gone(pid: number, withinMs: number): Promise<number | null> {
  const start = Date.now();
  while (Date.now() - start <= withinMs) {
    if (!alive(pid)) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

function next<K extends keyof FfmpegSupervisorEvents>(sup: FfmpegSupervisor, event: K, timeoutMs = 10_000): Promise<FfmpegSupervisorEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${String(event)} event within ${timeoutMs} ms`)), timeoutMs);
    const listener = (value: FfmpegSupervisorEvents[K][0]) => {
      clearTimeout(timer);
      resolve(value);
    };
    (sup as unknown as { once(e: string, l: (v: FfmpegSupervisorEvents[K][0]) => void): void }).once(event, listener);
  });
}

/** A live-paced encode that runs until stopped. */
const LIVE_ARGS = [
  '-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats', '-progress', 'pipe:1',
  '-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=15', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'null', '-',
];

test('supervisor: progress, restart after kill -9 with a new pid, stop() leaves no process', async (t) => {
  const sup = new FfmpegSupervisor({ ffmpegPath: FFMPEG, args: LIVE_ARGS, restart: { initialDelayMs: 100 } });
  t.teardown(() => sup.stop());
  const first = next(sup, 'started');
  sup.start();
  const { pid } = await first;
  t.is(sup.stats().state, 'running');
  t.is(sup.stats().parentDeathSignal, findSetpriv() !== null);
  // The first report can come before the first encoded frame; wait for one with time in it.
  let progress: FfmpegProgress = await next(sup, 'progress');
  while (progress.outTimeMs === 0) progress = await next(sup, 'progress');
  t.true(progress.frame > 0 && progress.speed > 0, JSON.stringify(progress));
  t.is(progress.end, false);
  // stats() holds the newest report: this one, or a later one that came meanwhile (reports
  // queue up on a loaded machine). Dropped frames are ffmpeg keeping real time: logged only.
  const latest = sup.stats().progress;
  t.true(latest !== null && latest.frame >= progress.frame && latest.outTimeMs >= progress.outTimeMs, JSON.stringify(latest));
  t.log(`progress: frame ${progress.frame}, speed ${progress.speed}, dropped ${progress.dropFrames}`);

  const exited = next(sup, 'exited');
  const restarted = next(sup, 'started');
  process.kill(pid, 'SIGKILL');
  const e: ExitedEvent = await exited;
  t.like(e, { pid, code: null, signal: 'SIGKILL', restarting: true, restartInMs: 100 });
  t.is(sup.stats().state, 'backoff');
  const s: StartedEvent = await restarted;
  t.not(s.pid, pid);
  t.is(s.restarts, 1);
  t.not(await gone(pid, 15_000), null);
  t.true(alive(s.pid));

  const stopped = next(sup, 'exited');
  const t0 = Date.now();
  await sup.stop();
  t.like(await stopped, { restarting: false, pid: s.pid });
  t.log(`stop() took ${Date.now() - t0} ms`);
  t.false(alive(s.pid), 'no ffmpeg left after stop()');
  t.like(sup.stats(), { state: 'stopped', pid: null, restarts: 1 });
  t.is((t.throws(() => sup.start(), { instanceOf: FfmpegError }) as FfmpegError | undefined)?.code, 'INVALID_STATE');
});

test('supervisor: a crash loop backs off, doubling up to the ceiling, and the stderr tail says why', async (t) => {
  const sup = new FfmpegSupervisor({
    ffmpegPath: FFMPEG,
    args: ['-hide_banner', '-nostdin', '-f', 'flv', '-i', '/nonexistent/source.flv', '-f', 'null', '-'],
    restart: { initialDelayMs: 40, maxDelayMs: 160 },
  });
  t.teardown(() => sup.stop());
  const exits: ExitedEvent[] = [];
  sup.on('exited', (e) => exits.push(e));
  sup.start();
  while (exits.length < 5) await next(sup, 'exited');
  t.deepEqual(exits.map((e) => e.restartInMs), [40, 80, 160, 160, 160]);
  t.true(exits.every((e) => e.restarting && e.code !== 0));
  t.regex(exits[0].stderrTail, /No such file or directory/);
  await sup.stop();
  t.is(sup.stats().state, 'stopped');

  // Runs that lasted stableAfterMs reset the delay: an occasional crash restarts at once.
  const stable = new FfmpegSupervisor({ ffmpegPath: '/bin/sh', args: ['-c', 'sleep 0.35; exit 3'], restart: { initialDelayMs: 40, maxDelayMs: 160, stableAfterMs: 300 } });
  t.teardown(() => stable.stop());
  const stableExits: ExitedEvent[] = [];
  stable.on('exited', (e) => stableExits.push(e));
  stable.start();
  while (stableExits.length < 3) await next(stable, 'exited');
  t.deepEqual(stableExits.map((e) => [e.code, e.restartInMs]), [[3, 40], [3, 40], [3, 40]]);
  await stable.stop();
});

test('supervisor: stop() escalates to SIGKILL when the process ignores SIGTERM', async (t) => {
  // An ignored signal stays ignored across exec: `sleep` inherits the shell's SIG_IGN.
  const sup = new FfmpegSupervisor({ ffmpegPath: '/bin/sh', args: ['-c', 'trap "" TERM; exec sleep 30'], stopGraceMs: 300 });
  const started = next(sup, 'started');
  sup.start();
  const { pid } = await started;
  await new Promise((r) => setTimeout(r, 100)); // let the shell install its trap
  const exited = next(sup, 'exited');
  const t0 = Date.now();
  await sup.stop();
  const e = await exited;
  t.like(e, { signal: 'SIGKILL', restarting: false });
  // At least the 300 ms grace was given; the upper bound is only the test's own deadline.
  t.true(Date.now() - t0 >= 290, `stop() returned after ${Date.now() - t0} ms`);
  t.false(alive(pid));
});

/** Runs a supervisor in a separate node process and returns it with its ffmpeg's pid. */
async function supervisedInChild(t: ExecutionContext, pdeathsig: boolean): Promise<{ nodePid: number; ffmpegPid: number }> {
  const dir = scratch(t, 'pdeath');
  const script = join(dir, 'child.ts');
  writeFileSync(
    script,
    [
      `import { FfmpegSupervisor } from ${JSON.stringify(join(__dirname, '..', 'src', 'transcode', 'supervisor'))};`,
      `const sup = new FfmpegSupervisor({ ffmpegPath: process.argv[2], args: JSON.parse(process.argv[3]), parentDeathSignal: process.argv[4] === 'on' });`,
      `sup.on('started', (e) => process.stdout.write(JSON.stringify(e) + '\\n'));`,
      `sup.start();`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, FFMPEG, JSON.stringify(LIVE_ARGS), pdeathsig ? 'on' : 'off'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  child.stdout.setEncoding('utf8');
  let buffered = '';
  const ffmpegPid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the child never reported a started ffmpeg')), 15_000);
    child.stdout.on('data', (d: string) => {
      buffered += d;
      const line = buffered.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as StartedEvent).pid);
      }
    });
    child.once('exit', () => reject(new Error('the child exited early')));
  });
  t.teardown(() => {
    if (alive(ffmpegPid)) process.kill(ffmpegPid, 'SIGKILL');
  });
  if (child.pid === undefined) throw new Error('no child pid');
  return { nodePid: child.pid, ffmpegPid };
}

test('supervisor: no orphan — SIGKILL of the node process takes ffmpeg with it (setpriv --pdeathsig)', async (t) => {
  if (findSetpriv() === null) return t.fail('setpriv with --pdeathsig is missing (util-linux); Debian 12 has it');
  const { nodePid, ffmpegPid } = await supervisedInChild(t, true);
  t.true(alive(ffmpegPid));
  // setpriv sets the flag, then execs ffmpeg in the same process: the reported pid becomes
  // ffmpeg itself a few ms after 'started' (wait for that, so the flag is surely set).
  const deadline = Date.now() + 15_000;
  let comm = '';
  while (Date.now() < deadline && (comm = readFileSync(`/proc/${ffmpegPid}/comm`, 'utf8').trim()) !== 'ffmpeg') {
    await new Promise((r) => setTimeout(r, 10));
  }
  t.is(comm, 'ffmpeg', 'setpriv execs ffmpeg: the reported pid is ffmpeg itself');
  process.kill(nodePid, 'SIGKILL');
  const ms = await gone(ffmpegPid, 15_000);
  t.not(ms, null, 'ffmpeg still running 15 s after its parent was SIGKILLed');
  t.log(`ffmpeg gone ${ms} ms after SIGKILL of its parent`);
});

test('supervisor: control — without pdeathsig the same SIGKILL leaves an orphaned ffmpeg', async (t) => {
  const { nodePid, ffmpegPid } = await supervisedInChild(t, false);
  process.kill(nodePid, 'SIGKILL');
  await once(spawn('sleep', ['0.7']), 'exit');
  t.true(alive(ffmpegPid), 'the orphan outlives its parent, which is what pdeathsig prevents');
  process.kill(ffmpegPid, 'SIGKILL');
  t.not(await gone(ffmpegPid, 15_000), null);
});
