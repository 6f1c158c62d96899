/**
 * The emulator's entry-server-node rules (src/dev/live-nodes.ts, actions/live-server-node.ts)
 * through the product's own Kaltura client, as kaltura/server applies them: authenticate
 * stores AUTHENTICATED (3) for a registered media server only, registerMediaServer moves the
 * node and drives isLive, nodes expire when not refreshed, unregister is idempotent only in
 * the sense Kaltura gives it (ENTRY_SERVER_NODE_NOT_FOUND), the partner's concurrency limits,
 * LIVE_STREAM_ALREADY_BROADCASTING across environments, a blocked partner, and the recorded
 * entry rules of APPENDED / PER_SESSION.
 */
import test, { type ExecutionContext } from 'ava';
import { demoFixtures, DEMO_ENTRY_ID, DEMO_ENTRY_TOKEN, DEMO_PASSTHROUGH_ENTRY_ID, DEMO_RECORDING_ENTRY_ID, MEDIA_SERVER_ADMIN_SECRET, startKalturaEmulator, type EmulatorFixtures, type KalturaEmulator } from '../src/dev';
import { AdminSession } from '../src/kaltura/admin-session';
import { KalturaApi, type MediaServerIndex } from '../src/kaltura/api';
import { KalturaClient } from '../src/kaltura/client';
import { KalturaApiError } from '../src/kaltura/errors';
import { sleep } from './helpers/media';

const HOST = 'media-a.example';

async function setup(t: ExecutionContext, fixtures: EmulatorFixtures = demoFixtures()) {
  const emu = await startKalturaEmulator({ fixtures });
  t.teardown(() => emu.stop());
  const client = new KalturaClient({ serviceUrl: emu.url, partnerId: -5, timeoutMs: 5000, clientTag: 'test', retries: 0, session: new AdminSession({ secret: MEDIA_SERVER_ADMIN_SECRET, partnerId: -5 }) });
  const api = new KalturaApi(client);
  const register = (entryId: string, index: MediaServerIndex, status: 1 | 2, hostname = HOST, shouldCreateRecordedEntry = true) =>
    api.liveStreamRegisterMediaServer({ entryId, hostname, mediaServerIndex: index, applicationName: 'kLive', liveEntryStatus: status, shouldCreateRecordedEntry }, 102);
  const isLive = (entryId: string) => client.call<boolean>('livestream', 'isLive', { id: entryId }, { readOnly: true });
  const code = (p: Promise<unknown>) => p.then(() => 'OK', (e: unknown) => (e instanceof KalturaApiError ? e.code : String(e)));
  return { emu, client, api, register, isLive, code };
}

test('authenticate needs a registered media server and stores AUTHENTICATED (3); register/unregister drive isLive', async (t) => {
  const { emu, api, register, isLive, code } = await setup(t);
  t.is(await code(api.liveStreamAuthenticate(DEMO_ENTRY_ID, DEMO_ENTRY_TOKEN, HOST, 0, 102)), 'MEDIA_SERVER_NOT_FOUND');
  t.is(await code(register(DEMO_ENTRY_ID, 0, 2)), 'MEDIA_SERVER_NOT_FOUND');
  await api.serverNodeReportStatus(HOST, { objectType: 'KalturaWowzaMediaServerNode', name: HOST, hostName: HOST });
  await api.liveStreamAuthenticate(DEMO_ENTRY_ID, DEMO_ENTRY_TOKEN, HOST, 0, 102);
  t.like(emu.entryServerNodes(DEMO_ENTRY_ID), [{ hostName: HOST, index: 0, status: 3 }]);
  t.false(await isLive(DEMO_ENTRY_ID));
  await register(DEMO_ENTRY_ID, 0, 2);
  t.like(emu.entryServerNodes(DEMO_ENTRY_ID), [{ status: 2 }]);
  t.false(await isLive(DEMO_ENTRY_ID), 'BROADCASTING is not live');
  const entry = await register(DEMO_ENTRY_ID, 0, 1);
  t.is(entry.liveStatus, 1);
  t.true(await isLive(DEMO_ENTRY_ID));
  await api.liveStreamUnregisterMediaServer(DEMO_ENTRY_ID, HOST, 0, 102);
  t.false(await isLive(DEMO_ENTRY_ID));
  t.is(await code(api.liveStreamUnregisterMediaServer(DEMO_ENTRY_ID, HOST, 0, 102)), 'ENTRY_SERVER_NODE_NOT_FOUND');
  t.is(await code(api.liveStreamUnregisterMediaServer(DEMO_ENTRY_ID, 'unknown.example', 0, 102)), 'SERVER_NODE_NOT_FOUND');
  t.is(await code(isLive('0_nothere1')), 'INVALID_ENTRY_ID');
});

test('a node not refreshed within the expiry is removed; PLAYABLE refreshes keep it', async (t) => {
  const { emu, api, register, isLive } = await setup(t);
  emu.registerServerNode(HOST);
  emu.setEntryServerNodeExpiry(1500);
  await register(DEMO_ENTRY_ID, 0, 1);
  for (let i = 0; i < 4; i++) {
    await sleep(800);
    await register(DEMO_ENTRY_ID, 0, 1);
    t.true(await isLive(DEMO_ENTRY_ID));
  }
  await sleep(1800);
  t.false(await isLive(DEMO_ENTRY_ID));
  t.deepEqual(emu.entryServerNodes(DEMO_ENTRY_ID), []);
  // A BROADCASTING node repeated with the same status is not updated (nothing saved): it expires.
  await register(DEMO_ENTRY_ID, 1, 2);
  await sleep(900);
  await register(DEMO_ENTRY_ID, 1, 2);
  await sleep(900);
  t.deepEqual(emu.entryServerNodes(DEMO_ENTRY_ID), []);
  t.is((await api.liveStreamGet(DEMO_ENTRY_ID, 102)).liveStatus, 0);
});

test('primary and backup nodes are separate; the best status wins', async (t) => {
  const { emu, register, isLive } = await setup(t);
  emu.registerServerNode(HOST);
  emu.registerServerNode('media-b.example');
  await register(DEMO_ENTRY_ID, 0, 2);
  await register(DEMO_ENTRY_ID, 1, 1, 'media-b.example');
  t.true(await isLive(DEMO_ENTRY_ID));
  t.like(emu.entryServerNodes(DEMO_ENTRY_ID).sort((a, b) => a.index - b.index), [{ index: 0, status: 2, hostName: HOST }, { index: 1, status: 1, hostName: 'media-b.example' }]);
});

test('blocked partner: SERVICE_FORBIDDEN_CONTENT_BLOCKED on authenticate and registerMediaServer; deleted entry: ENTRY_ID_NOT_FOUND', async (t) => {
  const { emu, api, register, code } = await setup(t);
  emu.registerServerNode(HOST);
  emu.setPartnerStatus(102, 2);
  t.is(await code(api.liveStreamAuthenticate(DEMO_ENTRY_ID, DEMO_ENTRY_TOKEN, HOST, 0, 102)), 'SERVICE_FORBIDDEN_CONTENT_BLOCKED');
  t.is(await code(register(DEMO_ENTRY_ID, 0, 1)), 'SERVICE_FORBIDDEN_CONTENT_BLOCKED');
  emu.setPartnerStatus(102, 1);
  emu.deleteEntry(DEMO_ENTRY_ID);
  t.is(await code(register(DEMO_ENTRY_ID, 0, 1)), 'ENTRY_ID_NOT_FOUND');
});

test('concurrency limits: LIVE_STREAM_EXCEEDED_MAX_PASSTHRU and _TRANSCODED count entries with a connected node', async (t) => {
  const fixtures = demoFixtures();
  fixtures.partners[0].maxLiveStreamInputs = 1;
  fixtures.partners[0].maxLiveStreamOutputs = 1;
  const { emu, api, code } = await setup(t, fixtures);
  emu.registerServerNode(HOST);
  await api.liveStreamAuthenticate(DEMO_PASSTHROUGH_ENTRY_ID, DEMO_ENTRY_TOKEN, HOST, 0, 102);
  const err = await api.liveStreamAuthenticate(DEMO_RECORDING_ENTRY_ID, DEMO_ENTRY_TOKEN, HOST, 0, 102).catch((e: unknown) => e as KalturaApiError);
  t.like(err, { code: 'LIVE_STREAM_EXCEEDED_MAX_PASSTHRU', message: `Partner exceeded max pass-through live streams in entry[${DEMO_RECORDING_ENTRY_ID}]` });
  // Transcoded entries count separately.
  await api.liveStreamAuthenticate(DEMO_ENTRY_ID, DEMO_ENTRY_TOKEN, HOST, 0, 102);
  emu.addEntry({ ...emu.getEntry(DEMO_ENTRY_ID)!, id: '0_transc02', mediaServerNodes: [] });
  t.is(await code(api.liveStreamAuthenticate('0_transc02', DEMO_ENTRY_TOKEN, HOST, 0, 102)), 'LIVE_STREAM_EXCEEDED_MAX_TRANSCODED');
  // As in Kaltura, the refused entry's node was stored (AUTHENTICATED) before the limits were
  // checked: it counts until it expires.
  t.like(emu.entryServerNodes(DEMO_RECORDING_ENTRY_ID), [{ index: 0, status: 3 }]);
});

test('LIVE_STREAM_ALREADY_BROADCASTING: the (entry, index) is live on a server of another environment', async (t) => {
  const { emu, api, register, code } = await setup(t);
  await api.serverNodeReportStatus(HOST, { objectType: 'KalturaWowzaMediaServerNode', name: HOST, hostName: HOST, environment: 'prod' });
  await api.serverNodeReportStatus('media-b.example', { objectType: 'KalturaWowzaMediaServerNode', name: 'b', hostName: 'media-b.example', environment: 'staging' });
  await register(DEMO_ENTRY_ID, 0, 1);
  const err = await api.liveStreamAuthenticate(DEMO_ENTRY_ID, DEMO_ENTRY_TOKEN, 'media-b.example', 0, 102).catch((e: unknown) => e as KalturaApiError);
  t.like(err, { code: 'LIVE_STREAM_ALREADY_BROADCASTING', message: `Entry [${DEMO_ENTRY_ID}] already broadcasting to server [${HOST}]` });
  // The same server re-authenticating is fine.
  t.is(await code(api.liveStreamAuthenticate(DEMO_ENTRY_ID, DEMO_ENTRY_TOKEN, HOST, 0, 102)), 'OK');
});

test('recorded entries: APPENDED keeps one across sessions, PER_SESSION makes one per session; only the primary creates', async (t) => {
  const { emu, api, register } = await setup(t);
  emu.registerServerNode(HOST);
  emu.setLiveSessionReconnectTimeout(0);
  const session = async (entryId: string) => {
    await api.liveStreamAuthenticate(entryId, DEMO_ENTRY_TOKEN, HOST, 0, 102);
    await register(entryId, 1, 2);
    const afterBackup = emu.getEntry(entryId)?.recordedEntryId;
    await register(entryId, 0, 2);
    await register(entryId, 0, 1);
    const recorded = emu.getEntry(entryId)?.recordedEntryId;
    await api.liveStreamUnregisterMediaServer(entryId, HOST, 0, 102);
    await api.liveStreamUnregisterMediaServer(entryId, HOST, 1, 102);
    await sleep(20);
    return { afterBackup, recorded };
  };
  // DEMO_RECORDING_ENTRY_ID is APPENDED (1).
  const a1 = await session(DEMO_RECORDING_ENTRY_ID);
  t.is(a1.afterBackup, undefined, 'the backup does not create the recorded entry');
  t.truthy(a1.recorded);
  const a2 = await session(DEMO_RECORDING_ENTRY_ID);
  t.is(a2.recorded, a1.recorded);
  t.like(emu.vodEntry(a1.recorded!), { rootEntryId: DEMO_RECORDING_ENTRY_ID, sourceType: '36', name: 'Demo live (recorded)' });

  emu.updateEntry(DEMO_PASSTHROUGH_ENTRY_ID, { recordStatus: 2 });
  const s1 = await session(DEMO_PASSTHROUGH_ENTRY_ID);
  const s2 = await session(DEMO_PASSTHROUGH_ENTRY_ID);
  t.truthy(s1.recorded);
  t.not(s2.recorded, s1.recorded);
  t.is(emu.vodEntry(s1.recorded!)?.name, 'Demo live (passthrough) 1');
  t.is(emu.vodEntry(s2.recorded!)?.name, 'Demo live (passthrough) 2');
  // Within the reconnect timeout, a new broadcast is the same session.
  emu.setLiveSessionReconnectTimeout(60_000);
  const s3 = await session(DEMO_PASSTHROUGH_ENTRY_ID);
  t.is(s3.recorded, s2.recorded);
});
