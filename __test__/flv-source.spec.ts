/**
 * FLV sources: a local writer (ffmpeg, as a transcoder does) feeds a live stream through a unix
 * socket; RTMP players and sinks see it like any published stream, and a restarted writer
 * publishes it again.
 */
import test from 'ava';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { RtmpIngest } from '../src/index';
import { FFMPEG, clip, probe, run, start, tempDir } from './helpers/media';

test('ffmpeg writing FLV to a source socket publishes a live stream; a second writer republishes it', async (t) => {
  const dir = tempDir('source');
  const file = await clip(dir, 6);
  const socketPath = join(dir, 'rendition.sock');
  const ingest = await RtmpIngest.start({ port: 0 });
  t.teardown(() => ingest.close());
  const sourceId = ingest.attachFlvSource('0_abcdefgh_33', socketPath);
  t.true(existsSync(socketPath));

  const live = ingest.waitFor('codecInfo', (e) => e.streamName === '0_abcdefgh_33' && e.video !== undefined);
  const writer = start(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-re', '-i', file, '-c', 'copy', '-f', 'flv', `unix:${socketPath}`]);
  const info = await live;
  t.like(info.video, { codec: 'H264', width: 640, height: 360 });
  t.is(info.connectionId, sourceId);

  const played = join(dir, 'played.flv');
  const player = await run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-i', `rtmp://127.0.0.1:${ingest.port}/kLive/0_abcdefgh_33`, '-t', '2', '-c', 'copy', '-y', played], 30_000);
  t.is(player.code, 0, player.stderr);
  const got = await probe(played);
  t.like(got.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: 640, height: 360 });
  t.like(got.streams.find((s) => s.codec_type === 'audio'), { codec_name: 'aac' });

  const unpublished = ingest.waitFor('unpublish', (e) => e.streamName === '0_abcdefgh_33');
  t.is((await writer.done).code, 0);
  t.is((await unpublished).reason, 'writer closed');

  // A restarted transcoder connects again and the stream is live again.
  const again = ingest.waitFor('codecInfo', (e) => e.streamName === '0_abcdefgh_33');
  const second = start(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-re', '-i', file, '-t', '2', '-c', 'copy', '-f', 'flv', `unix:${socketPath}`]);
  await again;
  t.true(ingest.stats().streams.some((s) => s.name === '0_abcdefgh_33'));
  const closed = ingest.waitFor('sourceClosed', (e) => e.sourceId === sourceId);
  t.true(ingest.detachSource(sourceId));
  t.is((await closed).reason, 'detached');
  t.false(ingest.stats().streams.some((s) => s.name === '0_abcdefgh_33'));
  await second.done;
  t.false(existsSync(socketPath), 'the socket file is removed');
});
