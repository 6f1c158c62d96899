/**
 * The RTMP core with real encoders: ffmpeg publishes and plays, ffprobe checks what the sinks
 * and players got.
 */
import test from 'ava';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RtmpIngest, type PublishEvent } from '../src/index';
import { until } from './helpers/hls';
import { FFMPEG, FFPROBE, clip, decodesCleanly, probe, publishFile, publishLive, run, sleep, start, tempDir } from './helpers/media';

const url = (ingest: RtmpIngest, name: string, app = 'kLive') => `rtmp://127.0.0.1:${ingest.port}/${app}/${name}`;

test('ffmpeg publishes H.264+AAC; the FLV file sink holds the same media; events and stats are typed', async (t) => {
  const dir = tempDir('publish');
  const sinkPath = join(dir, 'sink.flv');
  const ingest = await RtmpIngest.start({
    port: 0,
    pingIntervalMs: 1000,
    // Attach the sink before accepting: it then gets everything from the first tag.
    onPublish: (event) => {
      ingest.attachFileSink(event.streamName, sinkPath);
      return { accept: true };
    },
  });
  t.teardown(() => ingest.close());
  const connect = ingest.waitFor('connect');
  const publish = ingest.waitFor('publish');
  const metadata = ingest.waitFor('metadata');
  const codecs = ingest.waitFor('codecInfo', (e) => e.video !== undefined && e.audio !== undefined);
  const sinkClosed = ingest.waitFor('sinkClosed');

  const encoder = publishLive(url(ingest, 'cam1?token=abc&x=1'), { seconds: 5, size: '640x360', sampleRate: 44100 });

  const c = await connect;
  t.is(c.app, 'kLive');
  t.is(c.tcUrl, `rtmp://127.0.0.1:${ingest.port}/kLive`);
  t.regex(c.flashVer ?? '', /FMLE|LNX|Lavf/);
  t.regex(c.remoteAddress, /^127\.0\.0\.1:\d+$/);
  t.is(c.handshake, 'digest', 'ffmpeg uses the Flash digest handshake');
  const p: PublishEvent = await publish;
  t.is(p.streamName, 'cam1');
  t.deepEqual(p.query, [
    { key: 'token', value: 'abc' },
    { key: 'x', value: '1' },
  ]);
  t.is(p.publishType, 'live');

  const meta = JSON.parse((await metadata).json) as Record<string, unknown>;
  t.is(meta.width, 640);
  t.is(meta.height, 360);
  t.is(meta.audiosamplerate, 44100);
  t.regex(String(meta.encoder), /Lavf/);

  const info = await codecs;
  t.like(info.video, { codec: 'H264', width: 640, height: 360 });
  t.regex(info.video?.codecString ?? '', /^avc1\.[0-9a-f]{6}$/);
  t.like(info.audio, { codec: 'AAC', sampleRate: 44100, channels: 2, codecString: 'mp4a.40.2' });

  // Stats once a second of video has arrived and a ping has been answered (bounded wait; the
  // values are the core's counters, not timings: how fast they come depends on the machine).
  const stats = await until('a second of video and an answered ping in the stats', 30_000, () => {
    const s = ingest.stats();
    const p = s.connections.find((x) => x.role === 'publisher');
    return p && p.videoFrames > 30 && p.rttMs !== undefined && (p.bitrateInBps ?? 0) > 0 && (p.fps ?? 0) > 0 ? s : undefined;
  });
  const live = stats.streams.find((s) => s.name === 'cam1');
  t.truthy(live);
  t.is(live?.subscribers, 1);
  const publisher = stats.connections.find((x) => x.role === 'publisher');
  t.truthy(publisher);
  t.true((publisher?.bytesIn ?? 0) > 10_000);
  t.like(publisher?.video, { codec: 'H264', width: 640, height: 360 });
  t.like(publisher?.audio, { codec: 'AAC', sampleRate: 44100 });
  t.regex(publisher?.flashVer ?? '', /FMLE|Lavf/);
  t.true(Number.isFinite(publisher?.rttMs) && (publisher?.rttMs ?? -1) >= 0, `RTT ${publisher?.rttMs} ms measured by ping`);
  t.log(`RTT ${publisher?.rttMs} ms, bit rate ${publisher?.bitrateInBps} bit/s, ${publisher?.fps} fps`);

  const result = await encoder.done;
  t.is(result.code, 0, result.stderr);
  const closed = await sinkClosed;
  t.is(closed.reason, 'stream ended');
  t.is(closed.droppedFrames, 0);
  t.true(closed.bytesWritten > 50_000);

  const got = await probe(sinkPath);
  const video = got.streams.find((s) => s.codec_type === 'video');
  const audio = got.streams.find((s) => s.codec_type === 'audio');
  t.like(video, { codec_name: 'h264', width: 640, height: 360 });
  t.like(audio, { codec_name: 'aac', sample_rate: '44100', channels: 2 });
  t.true(Math.abs(got.videoSeconds - 5) < 0.5, `sink holds ${got.videoSeconds}s of video`);
  t.is((await decodesCleanly(sinkPath)).stderr, '');
});

test('ffmpeg plays a live stream over RTMP and gets a decodable file', async (t) => {
  const dir = tempDir('play');
  const ingest = await RtmpIngest.start({ port: 0 });
  t.teardown(() => ingest.close());
  const codecs = ingest.waitFor('codecInfo', (e) => e.video !== undefined);
  // The stream outlasts the player's 3 s however slowly the player starts; killed at the end.
  const encoder = publishLive(url(ingest, 'live1'), { seconds: 30 });
  t.teardown(() => void encoder.child.kill('SIGKILL'));
  await codecs;
  const playPath = join(dir, 'played.flv');
  const play = ingest.waitFor('play');
  const player = await run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-i', url(ingest, 'live1'), '-t', '3', '-c', 'copy', '-y', playPath], 30_000);
  t.is(player.code, 0, player.stderr);
  t.is((await play).streamName, 'live1');
  const got = await probe(playPath);
  t.like(got.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: 640, height: 360 });
  t.like(got.streams.find((s) => s.codec_type === 'audio'), { codec_name: 'aac' });
  t.true(got.videoSeconds > 2.5, `played ${got.videoSeconds}s`);
  t.is((await decodesCleanly(playPath)).stderr, '');
});

test('ffprobe of a joining RTMP player lists exactly the publisher\'s tracks (onMetaData at time 0, no phantom text stream)', async (t) => {
  const ingest = await RtmpIngest.start({ port: 0 });
  t.teardown(() => ingest.close());
  const codecs = ingest.waitFor('codecInfo', (e) => e.video !== undefined && e.audio !== undefined);
  const encoder = publishLive(url(ingest, 'probe1'), { seconds: 20 }, 60_000);
  t.teardown(() => void encoder.child.kill('SIGKILL'));
  await codecs;
  // Joined mid-stream: the stored onMetaData is replayed to the player first.
  const r = await run(FFPROBE, ['-v', 'error', '-of', 'json', '-show_streams', url(ingest, 'probe1')], 30_000);
  t.is(r.code, 0, r.stderr);
  const streams = (JSON.parse(r.stdout) as { streams: Array<{ codec_type: string; codec_name?: string }> }).streams;
  t.deepEqual(streams.map((s) => `${s.codec_type}:${s.codec_name ?? ''}`).sort(), ['audio:aac', 'video:h264']);
});

test('a refused connect reaches ffmpeg with its description and closes the connection', async (t) => {
  const ingest = await RtmpIngest.start({
    port: 0,
    onConnect: () => ({ accept: false, description: 'Missing argument: entryId' }),
  });
  t.teardown(() => ingest.close());
  const disconnect = ingest.waitFor('disconnect');
  const encoder = publishLive(url(ingest, 'x'), { seconds: 3 }, 20_000);
  const result = await encoder.done;
  t.not(result.code, 0);
  t.regex(result.stderr, /Missing argument: entryId/);
  t.regex((await disconnect).reason, /connect refused: Missing argument: entryId/);
});

test('a refused publish reaches ffmpeg as an onStatus error; an async gate that throws also refuses', async (t) => {
  const ingest = await RtmpIngest.start({
    port: 0,
    onPublish: async (event) => {
      await sleep(50);
      if (event.streamName === 'wrong') return { accept: false, description: 'Stream name wrong does not match entry' };
      throw new Error('Kaltura API unreachable');
    },
  });
  t.teardown(() => ingest.close());
  const refused = await publishLive(url(ingest, 'wrong'), { seconds: 3 }, 20_000).done;
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Stream name wrong does not match entry/);
  const thrown = await publishLive(url(ingest, 'other'), { seconds: 3 }, 20_000).done;
  t.regex(thrown.stderr, /Kaltura API unreachable/);
  t.is(ingest.stats().streams.length, 0);
});

test('a second publisher of a live name is refused; the first is untouched', async (t) => {
  const dir = tempDir('dup');
  const file = await clip(dir, 6);
  const ingest = await RtmpIngest.start({ port: 0 });
  t.teardown(() => ingest.close());
  const first = publishFile(url(ingest, 'dup'), file);
  await ingest.waitFor('codecInfo');
  const second = await publishFile(url(ingest, 'dup'), file, 20_000).done;
  t.not(second.code, 0);
  t.regex(second.stderr, /already being published/);
  t.is((await first.done).code, 0);
});

test('20 concurrent publishers, each with its own sink, all complete intact', async (t) => {
  const dir = tempDir('twenty');
  const file = await clip(dir, 5);
  const source = await probe(file);
  const ingest = await RtmpIngest.start({
    port: 0,
    onPublish: (event) => {
      ingest.attachFileSink(event.streamName, join(dir, `${event.streamName}.flv`));
      return { accept: true };
    },
  });
  t.teardown(() => ingest.close());
  const names = Array.from({ length: 20 }, (_, i) => `s${i}`);
  const closed = new Map<string, { reason: string; dropped: number }>();
  ingest.on('sinkClosed', (e) => closed.set(e.streamName, { reason: e.reason, dropped: e.droppedFrames }));
  const encoders = names.map((name) => publishFile(url(ingest, name), file, 60_000));
  const results = await Promise.all(encoders.map((e) => e.done));
  results.forEach((r) => t.is(r.code, 0, r.stderr));
  await until('every sink closed', 30_000, () => closed.size === names.length);
  for (const name of names) {
    t.deepEqual(closed.get(name), { reason: 'stream ended', dropped: 0 }, name);
    const got = await probe(join(dir, `${name}.flv`));
    t.is(got.videoPackets, source.videoPackets, `${name} video packets`);
    t.is(got.audioPackets, source.audioPackets, `${name} audio packets`);
  }
});

test('a unix-socket sink feeds ffmpeg reading FLV from it, and the next reader after a restart', async (t) => {
  const dir = tempDir('unix');
  const socketPath = join(dir, 'live.sock');
  const firstPath = join(dir, 'first.flv');
  const outPath = join(dir, 'from-socket.flv');
  const ingest = await RtmpIngest.start({ port: 0 });
  t.teardown(() => ingest.close());
  const codecs = ingest.waitFor('codecInfo', (e) => e.video !== undefined);
  // 20 s of stream: after the first reader's 1.5 s and both readers' start-up, however slow,
  // the restarted reader still reads well over 3 s of it.
  const file = await clip(dir, 20);
  const encoder = publishFile(url(ingest, 'sock'), file);
  await codecs;
  const sinkId = ingest.attachSocketSink('sock', socketPath);
  t.true(existsSync(socketPath));
  // A transcoder that stops after 1.5 s (as if it crashed) …
  const first = await run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-f', 'flv', '-i', `unix:${socketPath}`, '-t', '1.5', '-c', 'copy', '-y', firstPath], 30_000);
  t.is(first.code, 0, first.stderr);
  // … and its restart, which reconnects to the same path and starts again at a keyframe.
  const reader = start(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-f', 'flv', '-i', `unix:${socketPath}`, '-c', 'copy', '-y', outPath], 30_000);
  const closed = await ingest.waitFor('sinkClosed', (e) => e.sinkId === sinkId);
  t.is(closed.reason, 'stream ended');
  t.is((await reader.done).code, 0);
  t.false(existsSync(socketPath), 'the socket file is removed');
  t.true((await probe(firstPath)).videoPackets > 10);
  const got = await probe(outPath);
  t.like(got.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264' });
  t.true(got.videoSeconds > 3, `read ${got.videoSeconds}s`);
  t.is(got.streams.length, 2);
  await encoder.done;
});

test('attaching a sink to a stream that is not live is a typed error', async (t) => {
  const ingest = await RtmpIngest.start({ port: 0 });
  t.teardown(() => ingest.close());
  const error = t.throws(() => ingest.attachFileSink('nope', join(tempDir('nolive'), 'x.flv')));
  t.is((error as { code?: string }).code, 'STREAM_NOT_LIVE');
});

test('killConnection ends the publisher; shutdown closes every session', async (t) => {
  const ingest = await RtmpIngest.start({ port: 0 });
  const codecs = ingest.waitFor('codecInfo');
  const encoder = publishLive(url(ingest, 'victim'), { seconds: 20 }, 30_000);
  const { connectionId } = await codecs;
  const unpublish = ingest.waitFor('unpublish');
  t.true(ingest.killConnection(connectionId));
  t.is((await ingest.waitFor('disconnect', (e) => e.connectionId === connectionId)).reason, 'killed by operator');
  t.is((await unpublish).streamName, 'victim');
  const killed = await encoder.done;
  t.not(killed.code, 0);

  const second = publishLive(url(ingest, 'other'), { seconds: 20 }, 30_000);
  await ingest.waitFor('codecInfo', (e) => e.streamName === 'other');
  const reason = ingest.waitFor('disconnect');
  await ingest.close();
  t.is((await reason).reason, 'server shutdown');
  t.not((await second.done).code, 0);
  t.is((t.throws(() => ingest.killConnection(1)) as { code?: string }).code, 'SERVER_CLOSED');
});

test('sink file stays readable while the stream is live', async (t) => {
  const dir = tempDir('growing');
  const ingest = await RtmpIngest.start({ port: 0, writePacingMs: 20 });
  t.teardown(() => ingest.close());
  const codecs = ingest.waitFor('codecInfo', (e) => e.video !== undefined);
  const encoder = publishLive(url(ingest, 'grow'), { seconds: 30 });
  t.teardown(() => void encoder.child.kill('SIGKILL'));
  await codecs;
  const path = join(dir, 'grow.flv');
  ingest.attachFileSink('grow', path);
  await until('the sink file to grow past 20 kB', 30_000, () => existsSync(path) && statSync(path).size > 20_000);
  const partial = await probe(path);
  t.true(partial.videoPackets > 10);
});
