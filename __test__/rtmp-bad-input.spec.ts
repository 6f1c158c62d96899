/**
 * Hostile and broken clients: each is closed with a reason, alone. A real ffmpeg publisher
 * runs through all of it and its sink must come out intact.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { RtmpIngest } from '../src/index';
import { FFMPEG, clip, probe, publishFile, sleep, start, tempDir } from './helpers/media';
import { until } from './helpers/hls';
import { amf0, chunk, closed, connectCommand, handshake, open, readBytes } from './helpers/raw-rtmp';

interface Harness {
  ingest: RtmpIngest;
  reasonOf(socket: Socket): Promise<string>;
  /** Record stream `name` to `path` from its first frame. */
  sinkFor(name: string, path: string): void;
}

async function harness(t: ExecutionContext): Promise<Harness> {
  const sinks = new Map<string, string>();
  const ingest: RtmpIngest = await RtmpIngest.start({
    port: 0,
    // A good publisher's sink is attached before its publish is accepted: it gets every frame.
    onPublish: (event) => {
      const path = sinks.get(event.streamName);
      if (path !== undefined) ingest.attachFileSink(event.streamName, path);
      return { accept: true };
    },
    handshakeTimeoutMs: 1000,
    idleTimeoutMs: 3000,
    connectTimeoutMs: 3000,
    maxMessageSize: 1024 * 1024,
    maxChunkStreams: 16,
    writeTimeoutMs: 1500,
    subscriberBufferBytes: 512 * 1024,
  });
  t.teardown(() => ingest.close());
  const reasons = new Map<string, string>();
  ingest.on('disconnect', (e) => reasons.set(e.remoteAddress, e.reason));
  const reasonOf = async (socket: Socket) => {
    const remote = `127.0.0.1:${socket.localPort}`;
    for (let i = 0; i < 400; i++) {
      const reason = reasons.get(remote);
      if (reason) return reason;
      await sleep(25);
    }
    throw new Error(`connection from ${remote} was not closed`);
  };
  return { ingest, reasonOf, sinkFor: (name, path) => void sinks.set(name, path) };
}

/** A good publisher with a sink, started before the abuse; returns a check for the end. */
async function goodPublisher(t: ExecutionContext, h: Harness, name: string, seconds = 6) {
  const dir = tempDir(`good-${name}`);
  const file = await clip(dir, seconds);
  const source = await probe(file);
  const sinkPath = join(dir, 'sink.flv');
  h.sinkFor(name, sinkPath);
  const live = h.ingest.waitFor('codecInfo', (e) => e.streamName === name && e.video !== undefined);
  const sinkClosed = h.ingest.waitFor('sinkClosed', (e) => e.streamName === name);
  const publisher = publishFile(`rtmp://127.0.0.1:${h.ingest.port}/kLive/${name}`, file);
  await live;
  return async () => {
    const result = await publisher.done;
    t.is(result.code, 0, `the good publisher failed: ${result.stderr}`);
    const s = await sinkClosed;
    t.is(s.reason, 'stream ended');
    t.is(s.droppedFrames, 0);
    // Every frame the encoder sent, whatever the abuse beside it.
    const got = await probe(sinkPath);
    t.like(got.streams.find((x) => x.codec_type === 'video'), { codec_name: 'h264', width: 640, height: 360 });
    t.is(got.videoPackets, source.videoPackets, 'good stream: every video frame in the sink');
    t.is(got.audioPackets, source.audioPackets, 'good stream: every audio frame in the sink');
  };
}

test('random bytes, a truncated handshake, oversized and invalid messages: each closes only itself', async (t) => {
  const h = await harness(t);
  const verifyGood = await goodPublisher(t, h, 'good1', 7);

  // Random bytes: the first byte is not RTMP version 3.
  const random = await open(h.ingest.port);
  random.write(Buffer.concat([Buffer.from([0x47]), randomBytes(4000)]));
  t.regex(await h.reasonOf(random), /protocol error: handshake: .*version/i);

  // Truncated handshake: C0 and part of C1, then silence.
  const truncated = await open(h.ingest.port);
  truncated.write(Buffer.concat([Buffer.from([3]), randomBytes(700)]));
  t.regex(await h.reasonOf(truncated), /handshake not completed within 1 s/);

  // Huge chunk size, then a message length over the limit.
  const huge = await open(h.ingest.port);
  await handshake(huge);
  const setChunkSize = Buffer.alloc(4);
  setChunkSize.writeUInt32BE(0x7fffffff);
  huge.write(chunk(2, 1, 0, setChunkSize));
  huge.write(chunk(3, 9, 1, Buffer.alloc(16), 128, 0xffffff));
  // Before a publish or play is accepted the pre-authorization limits apply (64 KiB).
  t.regex(await h.reasonOf(huge), /message length 16777215 exceeds the limit of 65536 bytes/);

  // A command whose AMF is broken.
  const badAmf = await open(h.ingest.port);
  await handshake(badAmf);
  badAmf.write(chunk(3, 20, 0, Buffer.from([0x02, 0xff, 0xff, 0x41])));
  t.regex(await h.reasonOf(badAmf), /invalid AMF in command/);

  // Too many chunk streams.
  const manyStreams = await open(h.ingest.port);
  await handshake(manyStreams);
  const flood = Buffer.concat(Array.from({ length: 40 }, (_, i) => chunk(4 + i, 8, 1, Buffer.from([0xaf, 1, 0]))));
  manyStreams.write(flood);
  t.regex(await h.reasonOf(manyStreams), /more than 8 chunk streams/);

  // Commands before connect.
  const early = await open(h.ingest.port);
  await handshake(early);
  early.write(chunk(3, 20, 0, amf0('createStream', 2, null)));
  t.regex(await h.reasonOf(early), /before connect/);

  // Silence after the handshake: the connect deadline.
  const idle = await open(h.ingest.port);
  await handshake(idle);
  t.regex(await h.reasonOf(idle), /no connect within 3 s of the handshake/);

  await verifyGood();
  t.is(h.ingest.stats().connections.length, 0);
});

test('a player that stops reading is dropped; the publisher and its sink are untouched', async (t) => {
  const h = await harness(t);
  const verifyGood = await goodPublisher(t, h, 'good2', 8);
  // A firehose publisher (no -re, looping) so that the stalled player's kernel buffers fill
  // within a second instead of minutes.
  const file = await clip(tempDir('firehose'), 5);
  const firehoseLive = h.ingest.waitFor('codecInfo', (e) => e.streamName === 'firehose' && e.video !== undefined);
  const firehose = start(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-stream_loop', '-1', '-i', file, '-c', 'copy', '-t', '6000', '-f', 'flv',
    `rtmp://127.0.0.1:${h.ingest.port}/kLive/firehose`], 60_000);
  t.teardown(() => firehose.child.kill('SIGKILL'));
  await firehoseLive;
  const player = await open(h.ingest.port);
  await handshake(player);
  player.write(connectCommand('kLive', `rtmp://127.0.0.1:${h.ingest.port}/kLive`));
  player.write(chunk(3, 20, 0, amf0('createStream', 2, null)));
  await readBytes(player, 200);
  const play = h.ingest.waitFor('play');
  player.write(chunk(8, 20, 1, amf0('play', 0, null, 'firehose')));
  await play;
  // Stop reading: the kernel buffers fill, then the server's writes stall.
  player.pause();
  const reason = await h.reasonOf(player);
  t.regex(reason, /write error: peer did not read for 1 s/);
  t.true(h.ingest.stats().streams.some((s) => s.name === 'firehose'), 'the firehose publisher is still live');
  firehose.child.kill('SIGKILL');
  await verifyGood();
  player.destroy();
});

test('connections over maxConnections are closed at accept with a reason', async (t) => {
  const ingest = await RtmpIngest.start({ port: 0, maxConnections: 2 });
  t.teardown(() => ingest.close());
  const reasons: string[] = [];
  ingest.on('disconnect', (e) => reasons.push(e.reason));
  const first = await open(ingest.port);
  const second = await open(ingest.port);
  for (let i = 0; i < 50 && ingest.stats().connections.length < 2; i++) await sleep(20);
  // The socket closes before the core's event reaches JavaScript: wait for the event too.
  const refused = ingest.waitFor('disconnect', (e) => e.reason.startsWith('connection limit'));
  const third = await open(ingest.port);
  await closed(third);
  t.is((await refused).reason, 'connection limit (2) reached');
  t.deepEqual(reasons, ['connection limit (2) reached']);
  t.is(ingest.stats().refusedConnections, 1);
  first.destroy();
  second.destroy();
});

test('hundreds of garbage connections leave memory at its baseline and the server serving', async (t) => {
  const h = await harness(t);
  const rounds = async (n: number) => {
    for (let i = 0; i < n; i += 30) {
      const sockets = await Promise.all(Array.from({ length: 30 }, () => open(h.ingest.port)));
      sockets.forEach((s, k) => {
        // Alternate: garbage in the handshake, and a valid handshake followed by chunks that
        // refer to a chunk stream never opened (fmt 1 on a fresh csid).
        const garbage = k % 2 === 0 ? randomBytes(5000) : Buffer.concat([Buffer.from([3]), randomBytes(3072), Buffer.from([0x43]), randomBytes(2000)]);
        s.write(garbage);
      });
      await Promise.all(sockets.map((s) => Promise.race([closed(s), sleep(3000).then(() => s.destroy())])));
    }
  };
  // ava runs the workers with --expose-gc (package.json): collect before each reading.
  const gc = global.gc;
  if (!gc) return t.fail('global.gc is missing: run ava with node --expose-gc');
  await rounds(60); // warm up allocators and caches
  gc();
  const before = process.memoryUsage().rss;
  await rounds(300);
  await sleep(500);
  gc();
  const after = process.memoryUsage().rss;
  const grewMb = (after - before) / 1024 / 1024;
  t.log(`RSS ${Math.round(before / 1048576)} MB → ${Math.round(after / 1048576)} MB after 300 garbage connections`);
  t.true(grewMb < 20, `RSS grew ${grewMb.toFixed(1)} MB`);
  // Every garbage connection is gone from the core (its clean-up may trail the socket close).
  await until('no connection left', 15_000, () => h.ingest.stats().connections.length === 0);
  const verifyGood = await goodPublisher(t, h, 'after', 4);
  await verifyGood();
});
