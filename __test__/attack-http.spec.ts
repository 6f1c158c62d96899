/**
 * Attacks on the HTTP origin (served on the RTMP port), end to end next to a real encoder and
 * an HLS reader: slow-loris headers, one address opening more connections than its cap, and a
 * client that asks for segments and never reads the answers. Each must be closed by the server
 * within bounded time while the HLS reader keeps seeing new segments.
 */
import test from 'ava';
import { ENTRY, RENDITION, closedWithin, goodPublisherOnAir, HlsReader, KiB, loggedLines, MiB, openFrom, rssAfterGc, startAttackEnv } from './helpers/attack';
import { fetchMedia } from './helpers/hls';
import { sleep, tempDir } from './helpers/media';

const dir = tempDir('attack-http');

test.serial('slow-loris headers and an over-cap address are closed; HLS keeps advancing', async (t) => {
  const env = await startAttackEnv(t, { http: { maxConnectionsPerIp: 20, idleTimeoutSeconds: 5 } });
  const good = await goodPublisherOnAir(env, dir);
  t.teardown(() => void good.running.child.kill('SIGKILL'));
  const reader = new HlsReader(env);
  t.teardown(() => reader.stop());
  await reader.advancedBy(-1, 2);
  const before = reader.last;
  const rss0 = await rssAfterGc();
  const lines0 = loggedLines(env.lines);

  // 40 connections from one address, each sending the start of a request and no more.
  const sockets = await Promise.all(Array.from({ length: 40 }, () => openFrom(env.rtmpPort, '127.0.0.3')));
  for (const s of sockets) s.write(`GET /kLive/${RENDITION}/playlist.m3u8 HTTP/1.1\r\nHost: x\r\n`);
  const early = await Promise.all(sockets.map((s) => closedWithin(s, 3000)));
  t.true(early.filter(Boolean).length >= 20, `${early.filter(Boolean).length} of 40 closed over the per-address cap (20)`);
  const rssDuring = await rssAfterGc();
  t.true(rssDuring - rss0 <= 40 * 256 * KiB, `RSS +${((rssDuring - rss0) / MiB).toFixed(1)} MiB for 40 connections`);
  // The reader (another address) is served meanwhile.
  t.truthy(await fetchMedia(env.origin, RENDITION), 'the playlist is served during the attack');
  const all = await Promise.all(sockets.map((s) => closedWithin(s, 30_000)));
  t.true(all.every(Boolean), 'headers that never finish close the connection');
  await reader.advancedBy(before, 2);
  t.true(loggedLines(env.lines) - lines0 <= 40, 'HTTP refusals do not flood the log');
  t.true(env.daemon.ingest.stats().streams.some((s) => s.name === `${ENTRY}_1`), 'the encoder is still publishing');
});

test.serial('a client that requests segments and never reads the answers is dropped', async (t) => {
  const env = await startAttackEnv(t, { http: { writeTimeoutSeconds: 2 } });
  const good = await goodPublisherOnAir(env, dir);
  t.teardown(() => void good.running.child.kill('SIGKILL'));
  const playlist = await fetchMedia(env.origin, RENDITION);
  const segment = playlist?.segments[0];
  if (!segment) return t.fail('no segment listed');
  const socket = await openFrom(env.rtmpPort, '127.0.0.4');
  socket.pause();
  const requests = 400;
  const request = `GET /kLive/${RENDITION}/${segment.uri} HTTP/1.1\r\nHost: x\r\n\r\n`;
  socket.write(request.repeat(requests));
  // Let the server fill the socket buffers and notice nobody reads.
  await sleep(12_000);
  let received = 0;
  socket.on('data', (d: Buffer) => (received += d.length));
  const closed = await closedWithin(socket, 30_000);
  t.true(closed, 'the server closed the connection');
  const segmentBytes = (await fetch(`${env.origin}/kLive/${RENDITION}/${segment.uri}`).then((r) => r.arrayBuffer())).byteLength;
  t.true(received < requests * segmentBytes, `read ${received} bytes of ${requests} × ${segmentBytes}`);
  t.log(`never-reading client got ${(received / MiB).toFixed(1)} MiB before it was dropped`);
});
