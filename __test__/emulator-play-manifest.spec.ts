/**
 * The emulator's playManifest for live HLS (src/dev/play-manifest.ts) over real HTTP, with the
 * nodes registered through the product's own Kaltura client as a media server does it
 * (serverNode.reportStatus with mediaServerPortConfig, liveStream.registerMediaServer): the
 * redirect to the primary, the proxied master listing the backup's renditions as redundant
 * variants (forceProxy), nodes that are not PLAYABLE left out, and ENTRY_NOT_LIVE (36) / 404.
 */
import test, { type ExecutionContext } from 'ava';
import { demoFixtures, DEMO_ENTRY_ID, DEMO_PARTNER_ID, MEDIA_SERVER_ADMIN_SECRET, startKalturaEmulator, type FixtureLiveStreamParams } from '../src/dev';
import { AdminSession } from '../src/kaltura/admin-session';
import { KalturaApi, type MediaServerIndex } from '../src/kaltura/api';
import { KalturaClient } from '../src/kaltura/client';

const PRIMARY = '127.0.0.2';
const BACKUP = '127.0.0.3';

async function setup(t: ExecutionContext, forceProxy = true) {
  const emu = await startKalturaEmulator({ fixtures: demoFixtures(), liveDeliveryForceProxy: forceProxy });
  t.teardown(() => emu.stop());
  // The demo entry has DVR on; these tests start without it (one turns it on).
  emu.updateEntry(DEMO_ENTRY_ID, { dvrStatus: 0 });
  const client = new KalturaClient({ serviceUrl: emu.url, partnerId: -5, timeoutMs: 5000, clientTag: 'test', retries: 0, session: new AdminSession({ secret: MEDIA_SERVER_ADMIN_SECRET, partnerId: -5 }) });
  const api = new KalturaApi(client);
  const node = (host: string, port: number) =>
    api.serverNodeReportStatus(host, {
      objectType: 'KalturaWowzaMediaServerNode',
      name: host,
      hostName: host,
      applicationName: 'kLive',
      mediaServerPortConfig: [{ objectType: 'KalturaKeyValue', key: 'http-hls', value: String(port) }],
    });
  const register = (index: MediaServerIndex, status: 1 | 2, host: string) =>
    api.liveStreamRegisterMediaServer({ entryId: DEMO_ENTRY_ID, hostname: host, mediaServerIndex: index, applicationName: 'kLive', liveEntryStatus: status, shouldCreateRecordedEntry: false }, DEMO_PARTNER_ID);
  const manifestUrl = (extra = '') => `${emu.url}/p/${DEMO_PARTNER_ID}/sp/${DEMO_PARTNER_ID}00/playManifest/entryId/${DEMO_ENTRY_ID}/format/applehttp/protocol/http${extra}/a.m3u8`;
  const get = (url: string) => fetch(url, { redirect: 'manual' });
  return { emu, api, node, register, manifestUrl, get };
}

const STREAMS: FixtureLiveStreamParams[] = [
  { flavorId: '32', bitrate: 900_000, width: 640, height: 360, codec: 'h264' },
  { flavorId: '33', bitrate: 2_000_000, width: 1280, height: 720, codec: 'h264' },
];

const primaryUrl = `http://${PRIMARY}:8081/kLive/smil:${DEMO_ENTRY_ID}_all.smil/playlist.m3u8`;
const backupUrl = `http://${BACKUP}:8082/kLive/smil:${DEMO_ENTRY_ID}_all.smil/playlist.m3u8`;

test('no PLAYABLE node: ENTRY_NOT_LIVE (36) with 404, as Kaltura answers', async (t) => {
  const { node, register, manifestUrl, get } = await setup(t);
  let res = await get(manifestUrl());
  t.is(res.status, 404);
  t.is(res.headers.get('x-kaltura'), 'error-36');
  t.regex(res.headers.get('x-kaltura-app') ?? '', /^exiting on error 36 - The given entry is not broadcasting, Entry \[0_demo1234\] is not broadcasting$/);
  await node(PRIMARY, 8081);
  await register(0, 2, PRIMARY);
  res = await get(manifestUrl());
  t.is(res.status, 404, 'BROADCASTING is not playable');
  t.is(res.headers.get('x-kaltura'), 'error-36');
  res = await get(`${manifestUrl().replace(DEMO_ENTRY_ID, '0_nothere1')}`);
  t.is(res.headers.get('x-kaltura'), 'error-1');
});

test('redirect mode: 302 to the primary node\'s URL built from its server node (host, http-hls port, application)', async (t) => {
  const { emu, node, register, manifestUrl, get } = await setup(t);
  await node(PRIMARY, 8081);
  await node(BACKUP, 8082);
  await register(1, 1, BACKUP);
  // Only the backup is PLAYABLE: it is the one served.
  let res = await get(manifestUrl());
  t.is(res.status, 302);
  t.is(res.headers.get('location'), backupUrl);
  await register(0, 1, PRIMARY);
  res = await get(manifestUrl());
  t.is(res.headers.get('location'), primaryUrl, 'the primary comes first');
  // Nodes with streams but responseFormat=redirect: still a redirect.
  emu.setEntryServerNodeStreams(DEMO_ENTRY_ID, 0, STREAMS);
  res = await get(manifestUrl('/responseFormat/redirect'));
  t.is(res.status, 302);
  t.is(res.headers.get('location'), primaryUrl);
  // DVR on: ?DVR on the stream URL.
  emu.updateEntry(DEMO_ENTRY_ID, { dvrStatus: 1 });
  res = await get(manifestUrl('/responseFormat/redirect'));
  t.is(res.headers.get('location'), `${primaryUrl}?DVR`);
});

test('proxied master (forceProxy): primary and backup renditions as redundant variants, backup with the primary\'s bit rates', async (t) => {
  const { emu, node, register, manifestUrl, get } = await setup(t);
  await node(PRIMARY, 8081);
  await node(BACKUP, 8082);
  await register(0, 1, PRIMARY);
  await register(1, 1, BACKUP);
  t.true(emu.setEntryServerNodeStreams(DEMO_ENTRY_ID, 0, STREAMS));
  // The backup measured other bit rates: Kaltura lists it with the primary's.
  t.true(emu.setEntryServerNodeStreams(DEMO_ENTRY_ID, 1, STREAMS.map((s) => ({ ...s, bitrate: s.bitrate + 12_345 }))));
  const res = await get(manifestUrl());
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'application/x-mpegurl');
  const bw = (bps: number) => Math.floor((bps * 188) / 184);
  const p = primaryUrl.replace('playlist.m3u8', '');
  const b = backupUrl.replace('playlist.m3u8', '');
  t.is(
    await res.text(),
    [
      '#EXTM3U',
      `#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=${bw(900_000)},RESOLUTION=640x360\n${p}32/chunklist.m3u8`,
      `#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=${bw(900_000)},RESOLUTION=640x360\n${b}32/chunklist.m3u8`,
      `#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=${bw(2_000_000)},RESOLUTION=1280x720\n${p}33/chunklist.m3u8`,
      `#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=${bw(2_000_000)},RESOLUTION=1280x720\n${b}33/chunklist.m3u8`,
    ].join('\n'),
  );
  // The backup drops to BROADCASTING (not PLAYABLE): left out.
  await register(1, 2, BACKUP);
  const only = await (await get(manifestUrl())).text();
  t.false(only.includes(BACKUP));
  t.is(only.split('\n').filter((l) => l.startsWith('http://')).length, 2);
});

test('without forceProxy the backup is listed only when the primary reports no streams', async (t) => {
  const { emu, node, register, manifestUrl, get } = await setup(t, false);
  await node(PRIMARY, 8081);
  await node(BACKUP, 8082);
  await register(0, 1, PRIMARY);
  await register(1, 1, BACKUP);
  emu.setEntryServerNodeStreams(DEMO_ENTRY_ID, 0, STREAMS);
  emu.setEntryServerNodeStreams(DEMO_ENTRY_ID, 1, STREAMS);
  let text = await (await get(manifestUrl())).text();
  t.false(text.includes(BACKUP));
  t.true(text.includes(`${PRIMARY}:8081`));
  emu.setLiveDeliveryForceProxy(true);
  text = await (await get(manifestUrl())).text();
  t.true(text.includes(`${BACKUP}:8082`));
});

test('a node whose server node is offline (markOffline) is left out', async (t) => {
  const { api, node, register, manifestUrl, get } = await setup(t);
  const primary = await node(PRIMARY, 8081);
  await node(BACKUP, 8082);
  await register(0, 1, PRIMARY);
  await register(1, 1, BACKUP);
  await api.serverNodeMarkOffline(primary.id ?? 0);
  const res = await get(manifestUrl());
  t.is(res.status, 302);
  t.is(res.headers.get('location'), backupUrl);
});

test('a media server reports its renditions with entryServerNode.list + update; the proxied master lists them', async (t) => {
  const { api, node, register, manifestUrl, get } = await setup(t);
  await node(PRIMARY, 8081);
  await node(BACKUP, 8082);
  await register(0, 1, PRIMARY);
  await register(1, 1, BACKUP);
  const primary = await api.entryServerNodeOf(DEMO_ENTRY_ID, 0, DEMO_PARTNER_ID);
  const backup = await api.entryServerNodeOf(DEMO_ENTRY_ID, 1, DEMO_PARTNER_ID);
  t.like(primary, { objectType: 'KalturaLiveEntryServerNode', entryId: DEMO_ENTRY_ID, serverType: '0', status: 1 });
  t.like(backup, { serverType: '1', status: 1 });
  t.not(primary?.id, backup?.id);
  t.is(await api.entryServerNodeOf('0_nothere1', 0, DEMO_PARTNER_ID), undefined);
  const streams = [{ objectType: 'KalturaLiveStreamParams' as const, flavorId: '32', bitrate: 900_000 }];
  const updated = await api.entryServerNodeUpdateStreams(primary?.id ?? 0, streams, DEMO_PARTNER_ID);
  t.deepEqual(updated.streams, streams);
  await api.entryServerNodeUpdateStreams(backup?.id ?? 0, [{ ...streams[0], bitrate: 950_000 }], DEMO_PARTNER_ID);
  const text = await (await get(manifestUrl())).text();
  const bw = Math.floor((900_000 * 188) / 184);
  t.is(
    text,
    `#EXTM3U\n#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=${bw}\n${primaryUrl.replace('playlist.m3u8', '32/chunklist.m3u8')}\n#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=${bw}\n${backupUrl.replace('playlist.m3u8', '32/chunklist.m3u8')}`,
  );
});
