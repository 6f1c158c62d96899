/**
 * Recording delivery against the real HTTP Kaltura emulator with real files in temp
 * directories: ordering, kaltura (shared directory) and eCDN (chunked upload) modes, crash
 * and restart, Kaltura down, retry deadline, retention, recording policy and cancelReplace.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_ADMIN_SECRET, DEMO_ENTRY_ID, DEMO_PARTNER_ID, MEDIA_SERVER_ADMIN_SECRET, demoFixtures, liveAssetId, startKalturaEmulator, type EmulatorFixtures, type KalturaEmulator } from '../src/dev';
import { AdminSession } from '../src/kaltura/admin-session';
import { KalturaApi } from '../src/kaltura/api';
import { KalturaClient } from '../src/kaltura/client';
import {
  DeliveryQueue,
  Journal,
  JOURNAL_FILE,
  RecordingPolicy,
  cancelReplaceOnUnpublish,
  filesToDelete,
  moveIntoPlace,
  RecordingError,
  type DeliveryItem,
  type DeliveryQueueOptions,
  type RecordingSegmentEvent,
} from '../src/recording';
import { tempDir } from './helpers/media';

const ENTRY = DEMO_ENTRY_ID; // profile 1002: flavors 32 (source, recording_anchor), 42, 43, 44, 45

interface Rig {
  emu: KalturaEmulator;
  api: KalturaApi;
  dir: string;
  /** Opens a queue on the rig's state directory (a "process"). */
  queue(extra?: Partial<DeliveryQueueOptions>): Promise<DeliveryQueue>;
  /** Writes a segment file and returns its event. */
  segment(flavorParamsId: number, n: number, size?: number, last?: boolean): RecordingSegmentEvent & { sha256: string };
}

async function rig(
  t: ExecutionContext,
  mode: 'kaltura' | 'ecdn',
  opts: { fixtures?: EmulatorFixtures; latencyMs?: number; queue?: Partial<DeliveryQueueOptions> } = {},
): Promise<Rig> {
  const dir = tempDir(`rec-${mode}`);
  const emu = await startKalturaEmulator({ fixtures: opts.fixtures ?? demoFixtures(), latencyMs: opts.latencyMs ?? 0 });
  // kaltura mode: partner -5 impersonating 102; eCDN: the partner's own server, no impersonation.
  const session =
    mode === 'kaltura' ? new AdminSession({ secret: MEDIA_SERVER_ADMIN_SECRET, partnerId: -5 }) : new AdminSession({ secret: DEMO_ADMIN_SECRET, partnerId: DEMO_PARTNER_ID });
  const client = new KalturaClient({ serviceUrl: emu.url, partnerId: session.partnerId, timeoutMs: 3000, clientTag: 'klive-server:test', session, retries: 0 });
  const api = new KalturaApi(client);
  const queues: DeliveryQueue[] = [];
  t.teardown(async () => {
    for (const q of queues) await q.stop();
    await emu.stop();
  });
  return {
    emu,
    api,
    dir,
    async queue(extra = {}) {
      const q = await DeliveryQueue.open({
        stateDirectory: join(dir, 'state'),
        mode,
        api,
        sharedDirectory: join(dir, 'shared'),
        initialBackoffMs: 30,
        maxBackoffMs: 200,
        ...opts.queue,
        ...extra,
      });
      queues.push(q);
      return q;
    },
    segment(flavorParamsId, n, size = 10_000 + n, last = false) {
      const streamName = `${ENTRY}_${flavorParamsId}`;
      const folder = join(dir, 'rec', ENTRY, streamName);
      mkdirSync(folder, { recursive: true });
      const path = join(folder, `${streamName}-${n}.mp4`);
      const data = randomBytes(size);
      writeFileSync(path, data);
      const sha256 = createHash('sha256').update(data).digest('hex');
      return { type: 'recordingSegment', streamName, path, startWallMs: 1_700_000_000_000 + n * 1000, durationMs: 1000 * n + 250, bytes: size, last, sha256 };
    },
  };
}

const info = (mode: 'kaltura' | 'ecdn') => ({ partnerId: mode === 'kaltura' ? DEMO_PARTNER_ID : undefined, serverIndex: 0 as const });

async function until(t: ExecutionContext, what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) {
      t.fail(`timed out waiting for ${what}`);
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---------------------------------------------------------------------------------------------

test('kaltura mode: segments of two assets are moved to the shared directory and appended in order', async (t) => {
  const r = await rig(t, 'kaltura');
  const q = await r.queue();
  const segs = [1, 2, 3].flatMap((n) => [r.segment(32, n, undefined, n === 3), r.segment(42, n, undefined, n === 3)]);
  for (const s of segs) await q.enqueue(s, info('kaltura'));
  q.start();
  await q.whenIdle();
  t.like(q.counters(), { pending: 0, delivered: 6, failed: 0, uncertain: 0 });

  for (const flavor of [32, 42]) {
    const assetId = liveAssetId(ENTRY, flavor);
    const got = r.emu.receivedRecordings(ENTRY, assetId);
    const mine = segs.filter((s) => s.streamName.endsWith(`_${flavor}`));
    t.deepEqual(got.map((c) => c.sha256), mine.map((s) => s.sha256), `asset ${flavor}: content in order`);
    t.deepEqual(got.map((c) => c.duration), mine.map((s) => s.durationMs / 1000));
    t.deepEqual(got.map((c) => c.isLastChunk), [false, false, true]);
    for (const [i, c] of got.entries()) {
      const shared = join(r.dir, 'shared', ENTRY, `${ENTRY}_${flavor}-${i + 1}.mp4`);
      t.is(c.localFilePath, shared);
      t.is(c.resourceType, 'KalturaServerFileResource');
      t.true(existsSync(shared), 'the moved file stays for Kaltura');
      t.false(existsSync(mine[i].path), 'nothing left in the recording directory');
    }
  }
  const appends = r.emu.callsOf('liveStream', 'appendRecording');
  t.is(appends.length, 6);
  t.true(appends.every((c) => c.partnerId === DEMO_PARTNER_ID && c.result === 'OK' && c.params.mediaServerIndex === '0'));
  t.is(r.emu.callsOf('flavorAsset', 'list').length, 1, 'asset ids are cached per entry');
  t.deepEqual(q.list(), [], 'delivered moved items leave the journal');
});

test('kaltura mode: a retry after the move does not move again (file already in the shared directory)', async (t) => {
  const r = await rig(t, 'kaltura');
  const s = r.segment(32, 1);
  // A crash after the rename, before the journal knew: the file is only in the shared directory.
  const shared = join(r.dir, 'shared', ENTRY, `${ENTRY}_32-1.mp4`);
  mkdirSync(join(r.dir, 'shared', ENTRY), { recursive: true });
  writeFileSync(shared, readFileSync(s.path));
  const q = await r.queue();
  await q.enqueue(s, info('kaltura'));
  // and the copy fallback's leftover source is removed.
  q.start();
  await q.whenIdle();
  t.false(existsSync(s.path));
  t.is(r.emu.receivedRecordings(ENTRY, liveAssetId(ENTRY, 32))[0]?.sha256, s.sha256);
});

test('eCDN mode: multi-chunk upload, received bytes identical, local file deleted after delivery', async (t) => {
  const r = await rig(t, 'ecdn', { queue: { uploadChunkBytes: 64 * 1024 } });
  const q = await r.queue();
  const a = r.segment(32, 1, 300 * 1024);
  const b = r.segment(32, 2, 70 * 1024, true);
  await q.enqueue(a, info('ecdn'));
  await q.enqueue(b, info('ecdn'));
  q.start();
  await q.whenIdle();
  const got = r.emu.receivedRecordings(ENTRY, liveAssetId(ENTRY, 32));
  t.deepEqual(got.map((c) => c.sha256), [a.sha256, b.sha256]);
  t.deepEqual(got.map((c) => c.size), [300 * 1024, 70 * 1024]);
  t.true(got.every((c) => c.resourceType === 'KalturaUploadedFileTokenResource'));
  t.deepEqual(got.map((c) => c.isLastChunk), [false, true]);
  t.is(r.emu.callsOf('uploadToken', 'add').length, 2);
  const uploads = r.emu.callsOf('uploadToken', 'upload');
  t.is(uploads.length, 5 + 2, '300 KiB in 64 KiB chunks is 5, 70 KiB is 2');
  t.like(uploads[0].params, { resume: 'false', finalChunk: 'false', resumeAt: '-1' });
  t.like(uploads[1].params, { resume: 'true', finalChunk: 'false', resumeAt: String(64 * 1024) });
  t.like(uploads[4].params, { resume: 'true', finalChunk: 'true', resumeAt: String(256 * 1024) });
  t.true(r.emu.callsOf('liveStream', 'appendRecording').every((c) => c.partnerId === DEMO_PARTNER_ID));
  t.false(existsSync(a.path));
  t.false(existsSync(b.path));
  t.is(q.counters().localBytes, 0);
});

test('eCDN mode: a crash in the middle of an upload resumes the same token at the confirmed offset', async (t) => {
  const r = await rig(t, 'ecdn', { latencyMs: 40, queue: { uploadChunkBytes: 32 * 1024 } });
  const s = r.segment(42, 1, 512 * 1024);
  const q1 = await r.queue();
  await q1.enqueue(s, info('ecdn'));
  q1.start();
  await until(t, 'a few chunks', () => r.emu.callsOf('uploadToken', 'upload').length >= 4);
  await q1.stop();
  const sentBefore = r.emu.callsOf('uploadToken', 'upload').length;
  const [stopped] = q1.list();
  t.is(stopped.state, 'pending');
  t.truthy(stopped.upload);
  const offset = stopped.upload?.offset ?? 0;
  t.true(offset > 0 && offset < 512 * 1024, `partial offset ${offset}`);

  const q2 = await r.queue();
  t.is(q2.list()[0].upload?.offset, offset, 'the journal kept the offset');
  q2.start();
  await q2.whenIdle();
  t.is(r.emu.callsOf('uploadToken', 'add').length, 1, 'the token is resumed, not re-created');
  const resumed = r.emu.callsOf('uploadToken', 'upload')[sentBefore];
  t.like(resumed.params, { uploadTokenId: stopped.upload?.tokenId, resume: 'true', resumeAt: String(offset) });
  const got = r.emu.receivedRecordings(ENTRY, liveAssetId(ENTRY, 42));
  t.is(got.length, 1);
  t.is(got[0].sha256, s.sha256, 'byte-identical after the resume');
  t.is(r.emu.callsOf('liveStream', 'appendRecording').length, 1);
});

test('Kaltura down for a while: retried with backoff, then everything delivered once and in order', async (t) => {
  const r = await rig(t, 'kaltura');
  const q = await r.queue();
  const delays: number[] = [];
  q.on('retry', (_item, _error, delayMs) => delays.push(delayMs));
  r.emu.setDown(true);
  const segs = [1, 2, 3].flatMap((n) => [r.segment(32, n), r.segment(43, n)]);
  for (const s of segs) await q.enqueue(s, info('kaltura'));
  q.start();
  await until(t, 'several retries', () => delays.length >= 8);
  t.is(q.counters().pending, 6);
  t.true(q.counters().retries >= 8);
  t.regex(q.counters().lastError?.message ?? '', /NETWORK/);
  r.emu.setDown(false);
  await q.whenIdle();
  // Backoff doubles per lane up to the cap.
  t.true(delays.includes(30) && delays.includes(60) && delays.includes(120) && delays.includes(200));
  t.true(delays.every((d) => d <= 200));
  for (const flavor of [32, 43]) {
    const mine = segs.filter((s) => s.streamName.endsWith(`_${flavor}`)).map((s) => s.sha256);
    t.deepEqual(r.emu.receivedRecordings(ENTRY, liveAssetId(ENTRY, flavor)).map((c) => c.sha256), mine);
  }
  t.is(r.emu.callsOf('liveStream', 'appendRecording').filter((c) => c.result === 'OK').length, 6, 'no duplicates');
  t.like(q.counters(), { delivered: 6, failed: 0, pending: 0 });
});

test('restart: a new queue on the same journal delivers what was pending exactly once (torn last line tolerated)', async (t) => {
  const r = await rig(t, 'ecdn');
  const q1 = await r.queue();
  const segs = [1, 2, 3, 4].map((n) => r.segment(n % 2 ? 32 : 44, n));
  for (const s of segs) await q1.enqueue(s, info('ecdn'));
  // Never started: the "process" dies here (the journal holds 4 pending items) …
  await q1.stop();
  // … in the middle of writing a line.
  appendFileSync(join(r.dir, 'state', JOURNAL_FILE), '{"op":"put","item":{"id":"torn');
  const q2 = await r.queue();
  t.is(q2.list().length, 4);
  q2.start();
  await q2.whenIdle();
  await q2.stop();
  const q3 = await r.queue();
  q3.start();
  await q3.whenIdle();
  t.is(r.emu.callsOf('liveStream', 'appendRecording').length, 4, 'each segment appended exactly once');
  t.deepEqual(
    r.emu.receivedRecordings(ENTRY, liveAssetId(ENTRY, 32)).map((c) => c.sha256),
    [segs[0].sha256, segs[2].sha256],
  );
  t.deepEqual(q3.list(), []);
});

test('restart while appendRecording was in flight: not resent (at most once), reported uncertain', async (t) => {
  const r = await rig(t, 'kaltura');
  const s = r.segment(32, 1);
  const { journal } = await Journal.open(join(r.dir, 'state'));
  const item: DeliveryItem = {
    id: 'crashed-1', seq: 1, entryId: ENTRY, partnerId: DEMO_PARTNER_ID, flavorParamsId: 32, serverIndex: 0, path: s.path,
    bytes: s.bytes, durationMs: s.durationMs, isLast: false, enqueuedAt: Date.now(), state: 'sending', attempts: 1,
  };
  await journal.put(item);
  await journal.close();
  const q = await r.queue();
  const uncertain: string[] = [];
  q.on('uncertain', (i) => uncertain.push(i.id));
  const next = r.segment(32, 2);
  await q.enqueue(next, info('kaltura'));
  q.start();
  await q.whenIdle();
  t.deepEqual(uncertain, ['crashed-1']);
  t.like(q.counters(), { uncertain: 1, delivered: 1 });
  t.is(r.emu.callsOf('liveStream', 'appendRecording').length, 1, 'only the next segment');
  t.like(q.list()[0], { id: 'crashed-1', state: 'done', uncertain: true });
});

test('appendRecording that times out: not resent (Kaltura may have executed it), reported uncertain, file kept', async (t) => {
  const r = await rig(t, 'kaltura', { queue: { appendTimeoutMs: 500 } });
  const q = await r.queue();
  const uncertain: string[] = [];
  q.on('uncertain', (i) => uncertain.push(i.path));
  // The first segment goes through (and Kaltura's live assets are known from then on).
  const first = r.segment(32, 1);
  await q.enqueue(first, info('kaltura'));
  q.start();
  await q.whenIdle();
  t.is(r.emu.callsOf('liveStream', 'appendRecording').length, 1);
  // Kaltura then accepts requests and never answers: the second append times out.
  r.emu.setDown(true, 'hang');
  const second = r.segment(32, 2);
  await q.enqueue(second, info('kaltura'));
  await q.whenIdle();
  r.emu.setDown(false);
  const item = q.list().find((i) => i.path === second.path);
  t.like(item, { state: 'done', uncertain: true });
  t.like(q.counters(), { delivered: 1, uncertain: 1, pending: 0, failed: 0 });
  t.is(uncertain.length, 1, 'the uncertain segment is reported');
  t.true(existsSync(item?.sharedPath ?? item?.path ?? ''), 'its file is kept for an operator');
  // Kaltura is back: nothing is resent, now or after a restart on the same journal.
  const third = r.segment(32, 3);
  await q.enqueue(third, info('kaltura'));
  await q.whenIdle();
  await q.stop();
  const again = await r.queue();
  again.start();
  await again.whenIdle();
  const appended = r.emu.receivedRecordings(ENTRY, liveAssetId(ENTRY, 32)).map((c) => c.sha256);
  t.deepEqual(appended, [first.sha256, third.sha256], 'the timed-out segment was never sent again');
  t.like(again.list().find((i) => i.path === second.path), { state: 'done', uncertain: true });
});

test('retry time exceeded: the item is failed, reported, counted and kept with its file', async (t) => {
  const r = await rig(t, 'ecdn', { queue: { retryForMs: 300 } });
  const q = await r.queue();
  const failed: Array<[string, string]> = [];
  q.on('failed', (item, error) => failed.push([item.path, error]));
  r.emu.setDown(true);
  const s = r.segment(32, 1);
  await q.enqueue(s, info('ecdn'));
  q.start();
  await until(t, 'the first failure', () => failed.length >= 1, 5000);
  r.emu.setDown(false);
  // An unknown flavor: retried (ASSET_NOT_FOUND), then failed with a clear message.
  const unknown = r.segment(99, 1);
  await q.enqueue(unknown, info('ecdn'));
  await until(t, 'both failures', () => failed.length === 2, 5000);
  await q.whenIdle();
  t.is(failed[0][0], s.path);
  t.regex(failed[0][1], /NETWORK/);
  t.is(failed[1][0], unknown.path);
  t.regex(failed[1][1], /ASSET_NOT_FOUND: entry 0_demo1234 has no live flavor asset with flavorParamsId 99/);
  t.like(q.counters(), { failed: 2, pending: 0, delivered: 0 });
  t.true(existsSync(s.path) && existsSync(unknown.path), 'failed files are kept');
  await q.stop();
  const again = await r.queue();
  t.deepEqual(again.list().map((i) => i.state), ['failed', 'failed']);
  t.is(again.counters().failed, 2, 'the failed count survives a restart');
});

test('retention: disk budget deletes the oldest delivered files first, never undelivered ones', async (t) => {
  const kib = 1024;
  const r = await rig(t, 'ecdn', { queue: { retainDeliveredMs: 3_600_000, diskBudgetBytes: 250 * kib, retryForMs: 200 } });
  const q = await r.queue();
  const segs = [1, 2, 3].map((n) => r.segment(32, n, 100 * kib));
  const stuck = r.segment(99, 1, 100 * kib); // never deliverable
  await q.enqueue(stuck, info('ecdn'));
  for (const s of segs) await q.enqueue(s, info('ecdn'));
  q.start();
  await q.whenIdle();
  await until(t, 'the sweep', () => !existsSync(segs[0].path) && !existsSync(segs[1].path));
  t.true(existsSync(segs[2].path), 'the newest delivered file is retained');
  t.true(existsSync(stuck.path), 'an undelivered (failed) file is never deleted');
  t.is(q.counters().localBytes, 200 * kib);

  // The selection itself, with retention time.
  const base = { entryId: ENTRY, flavorParamsId: 32, serverIndex: 0 as const, durationMs: 1, isLast: false, enqueuedAt: 0, attempts: 0, bytes: 10 };
  const items: DeliveryItem[] = [
    { ...base, id: 'old', seq: 1, path: 'a', state: 'done', finishedAt: 100 },
    { ...base, id: 'new', seq: 2, path: 'b', state: 'done', finishedAt: 900 },
    { ...base, id: 'pending', seq: 3, path: 'c', state: 'pending' },
    { ...base, id: 'uncertain', seq: 4, path: 'd', state: 'done', finishedAt: 50, uncertain: true },
  ];
  t.deepEqual(filesToDelete(items, { retainDeliveredMs: 500, diskBudgetBytes: 0 }, 1000).map((i) => i.id), ['old']);
  t.deepEqual(filesToDelete(items, { retainDeliveredMs: 5000, diskBudgetBytes: 25 }, 1000).map((i) => i.id), ['old', 'new']);
});

test('policy: recordStatus and the partner permission (cached; Kaltura errors record anyway)', async (t) => {
  const r = await rig(t, 'kaltura');
  const policy = new RecordingPolicy(r.api);
  t.deepEqual(await policy.shouldRecord({ recordStatus: 0 }, DEMO_PARTNER_ID), { record: false, reason: 'record-status-disabled' });
  t.deepEqual(await policy.shouldRecord({ recordStatus: 1 }, DEMO_PARTNER_ID), { record: true, reason: 'record' });
  t.deepEqual(await policy.shouldRecord({ recordStatus: 2 }, DEMO_PARTNER_ID), { record: true, reason: 'record' });
  t.is(r.emu.callsOf('permission', 'get').length, 1, 'cached per partner');
  t.is(r.emu.callsOf('permission', 'get')[0].result, 'INVALID_OBJECT_ID', "Kaltura's answer for a permission the partner lacks");

  r.emu.setPartnerPermission(DEMO_PARTNER_ID, 'FEATURE_LIVE_STREAM_KALTURA_RECORDING', true);
  const fresh = new RecordingPolicy(r.api);
  t.deepEqual(await fresh.shouldRecord({ recordStatus: 1 }, DEMO_PARTNER_ID), { record: false, reason: 'kaltura-records' });
  t.is(r.emu.callsOf('permission', 'get')[1].partnerId, DEMO_PARTNER_ID, 'asked as the entry partner');

  r.emu.setDown(true);
  const down = await new RecordingPolicy(r.api).shouldRecord({ recordStatus: 1 }, DEMO_PARTNER_ID);
  t.like(down, { record: true, reason: 'record-permission-unknown' });
  t.deepEqual(await new RecordingPolicy(r.api, { enabled: false }).shouldRecord({ recordStatus: 1 }), { record: false, reason: 'disabled-by-config' });
});

test('cancelReplace on unpublish: only the primary, with a recording_anchor asset and a recorded entry', async (t) => {
  const fixtures = demoFixtures();
  fixtures.entries[0].recordedEntryId = '0_recorded';
  fixtures.flavorParams.push({ id: 60, name: 'No anchor', tags: 'mbr,web', videoCodec: 'h264', videoBitrate: 800, width: 640, height: 360, audioCodec: 'aac', audioBitrate: 64 });
  fixtures.conversionProfiles.push({ id: 1009, partnerId: DEMO_PARTNER_ID, name: 'No anchor', flavorParamsIds: [60] });
  fixtures.entries.push({ ...fixtures.entries[0], id: '0_noanchor', conversionProfileId: 1009, recordedEntryId: '0_recorded' });
  const r = await rig(t, 'kaltura', { fixtures });
  const p = DEMO_PARTNER_ID;
  t.deepEqual(await cancelReplaceOnUnpublish(r.api, { entryId: ENTRY, serverIndex: 1, partnerId: p }), { action: 'skipped', reason: 'not-primary' });
  t.deepEqual(await cancelReplaceOnUnpublish(r.api, { entryId: '0_noanchor', serverIndex: 0, partnerId: p }), { action: 'skipped', reason: 'no-anchor-asset' });
  // recordedEntryId unknown to the caller: read from the entry.
  t.deepEqual(await cancelReplaceOnUnpublish(r.api, { entryId: '0_demopass', serverIndex: 0, partnerId: p }), { action: 'skipped', reason: 'no-recorded-entry' });
  t.is(r.emu.callsOf('media', 'cancelReplace').length, 0);
  t.deepEqual(await cancelReplaceOnUnpublish(r.api, { entryId: ENTRY, serverIndex: 0, partnerId: p }), { action: 'cancelled', recordedEntryId: '0_recorded' });
  const calls = r.emu.callsOf('media', 'cancelReplace');
  t.is(calls.length, 1);
  t.like(calls[0], { partnerId: p, result: 'OK', params: { entryId: '0_recorded' } });
  r.emu.setDown(true);
  const failed = await cancelReplaceOnUnpublish(r.api, { entryId: ENTRY, serverIndex: 0, partnerId: p, recordedEntryId: '0_recorded' });
  t.is(failed.action, 'error', 'Kaltura errors are reported, never thrown');
});

test('moving into the shared directory never takes another file of the same name for ours', async (t) => {
  const dir = tempDir('move');
  const source = join(dir, 'rec', 'a.mp4');
  const target = join(dir, 'shared', 'a.mp4');
  mkdirSync(join(dir, 'rec'));
  mkdirSync(join(dir, 'shared'));
  writeFileSync(source, Buffer.alloc(10, 1));
  writeFileSync(target, Buffer.alloc(20, 2));
  const error = await t.throwsAsync(moveIntoPlace(source, target));
  t.is((error as RecordingError).code, 'FILE_NAME_TAKEN');
  t.true(existsSync(source), 'the segment stays where it is');
  t.is(readFileSync(target).length, 20, 'the other file is untouched');
  // The same size: what a crash between the copy's rename and the unlink leaves.
  writeFileSync(source, Buffer.alloc(20, 2));
  t.is(await moveIntoPlace(source, target), 'already-moved');
  t.false(existsSync(source));
});
