/**
 * Attacks through media and playback: a stalled RTMP player beside a publisher sending faster
 * than real time (the server must not queue for the player without bound, and must give the
 * memory back once it is dropped), and the RTMP play policy (`rtmp.play`).
 */
import test from 'ava';
import type { Socket } from 'node:net';
import { ENTRY, HlsReader, KiB, MiB, openFrom, rssAfterGc, startAttackEnv } from './helpers/attack';
import { until } from './helpers/hls';
import { clip, FFMPEG, sleep, start, tempDir } from './helpers/media';
import { amf0, chunk, connectCommand, handshake, readBytes } from './helpers/raw-rtmp';
import { RtmpIngest } from '../src/ingest/rtmp-ingest';

const dir = tempDir('attack-media');
/** The core's default subscriber budget (bytes queued for one player). */
const SUBSCRIBER_BUDGET = 8 * MiB;

test.serial('a stalled RTMP player beside a faster-than-real-time publisher costs at most its budget + 16 MiB, returned when it is dropped', async (t) => {
  const env = await startAttackEnv(t);
  const file = await clip(dir, 20);
  // As fast as the socket takes it, looping: an encoder flushing a backlog.
  const firehose = start(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-stream_loop', '-1', '-i', file, '-c', 'copy', '-f', 'flv', env.publishUrl()], 180_000);
  t.teardown(() => void firehose.child.kill('SIGKILL'));
  const reader = new HlsReader(env);
  t.teardown(() => reader.stop());
  await reader.advancedBy(-1, 3);
  await sleep(5000);
  let control = 0;
  const rssC = await rssAfterGc();
  for (let i = 0; i < 8; i++) {
    await sleep(1000);
    control = Math.max(control, (await rssAfterGc()) - rssC);
  }
  t.log(`no player: peak RSS +${(control / MiB).toFixed(1)} MiB`);
  const rss0 = await rssAfterGc();

  const player = await openFrom(env.rtmpPort, '127.0.0.1');
  await handshake(player);
  player.write(connectCommand('kLive', `rtmp://127.0.0.1:${env.rtmpPort}/kLive`));
  player.write(chunk(3, 20, 0, amf0('createStream', 2, null)));
  await readBytes(player, 200);
  const play = env.daemon.ingest.waitFor('play');
  player.write(chunk(8, 20, 1, amf0('play', 0, null, `${ENTRY}_1`)));
  await play;
  // Stop reading: the kernel buffers fill, then the server's writes stall.
  player.pause();
  let peak = 0;
  for (let i = 0; i < 8; i++) {
    await sleep(1000);
    peak = Math.max(peak, (await rssAfterGc()) - rss0);
  }
  t.log(`stalled player: peak RSS +${(peak / MiB).toFixed(1)} MiB`);
  // A firehose publisher alone moves the server's memory by a few MiB over a window (its
  // segments spill to disk, buffers churn): what the player costs is the difference between
  // the two windows of equal length.
  t.true(peak - control <= SUBSCRIBER_BUDGET + 16 * MiB, `RSS +${(peak / MiB).toFixed(1)} MiB with a stalled player, +${(control / MiB).toFixed(1)} MiB without`);
  // The write timeout (10 s) drops it; the memory comes back.
  await until('the stalled player dropped', 60_000, () => !env.daemon.ingest.stats().connections.some((c) => c.role === 'player'), 500);
  player.destroy();
  await sleep(2000);
  const after = (await rssAfterGc()) - rss0;
  t.log(`after the player left: RSS +${(after / MiB).toFixed(1)} MiB`);
  t.true(after <= 16 * MiB, `RSS +${(after / MiB).toFixed(1)} MiB after the player left`);
  t.true(env.daemon.ingest.stats().streams.some((s) => s.name === `${ENTRY}_1`), 'the publisher is still live');
  const before = reader.last;
  await reader.advancedBy(before, 2);
});

/** A raw RTMP player from `localAddress`: the onStatus text the server answers its play with. */
async function playAnswer(port: number, localAddress: string, stream: string): Promise<string> {
  const socket: Socket = await openFrom(port, localAddress);
  try {
    await handshake(socket);
    socket.write(connectCommand('kLive', `rtmp://127.0.0.1:${port}/kLive`));
    socket.write(chunk(3, 20, 0, amf0('createStream', 2, null)));
    await readBytes(socket, 200);
    const got: Buffer[] = [];
    const answered = new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        got.push(d);
        if (Buffer.concat(got).includes('NetStream.Play')) resolve();
      });
      socket.on('close', () => resolve());
    });
    socket.write(chunk(8, 20, 1, amf0('play', 0, null, stream)));
    await Promise.race([answered, sleep(15_000)]);
    return Buffer.concat(got).toString('latin1');
  } finally {
    socket.destroy();
  }
}

test('rtmp.play: loopback by default, off refuses everyone, open follows the origin lock', async (t) => {
  const loopback = await RtmpIngest.start({ port: 0 });
  t.teardown(() => loopback.close());
  const remote = await playAnswer(loopback.port, '127.0.0.2', 'any');
  t.true(remote.includes('NetStream.Play.Failed'), 'a non-loopback player is refused');
  t.regex(remote, /RTMP play is allowed from this host only \(rtmp\.play: loopback\)/);
  const local = await playAnswer(loopback.port, '127.0.0.1', 'any');
  t.false(local.includes('NetStream.Play.Failed'), 'a local player passes the policy');
  t.true(local.includes('NetStream.Play.StreamNotFound'), 'and learns the stream is not live');

  const off = await RtmpIngest.start({ port: 0, rtmpPlay: 'off' });
  t.teardown(() => off.close());
  t.regex(await playAnswer(off.port, '127.0.0.1', 'any'), /NetStream\.Play\.Failed[\s\S]*RTMP play is disabled on this server/);

  const open = await RtmpIngest.start({ port: 0, rtmpPlay: 'open' });
  t.teardown(() => open.close());
  t.false((await playAnswer(open.port, '127.0.0.2', 'any')).includes('NetStream.Play.Failed'), 'open: anyone passes');

  const locked = await RtmpIngest.start({ port: 0, rtmpPlay: 'open', limitOriginHeaderName: 'X-Cdn', limitOriginHeaderValue: 'secret' });
  t.teardown(() => locked.close());
  t.regex(await playAnswer(locked.port, '127.0.0.2', 'any'), /NetStream\.Play\.Failed[\s\S]*while the origin lock is set/);
  t.false((await playAnswer(locked.port, '127.0.0.1', 'any')).includes('NetStream.Play.Failed'));
});
