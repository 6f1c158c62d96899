/**
 * Publisher authentication without sockets: URL parsing, stream-name rules, and the policy
 * driven by an injected clock and a scripted Kaltura API.
 */
import test from 'ava';
import { alertJson, argsFromConnect, argsFromQuery, checkArgs, checkStreamName, ipOf, maskUrl } from '../src/kaltura/auth';
import { KalturaNetworkError } from '../src/kaltura/errors';
import { ENTRY, OTHER, q, setup, url } from './helpers/fake-kaltura-auth';

// ---------------------------------------------------------------------------------------------
// URL parsing

test('connect query gives entry, partner, index and token', (t) => {
  const raw = argsFromConnect(q('p=102&e=0_rkij47dr&i=0&t=dj94kfit'), 'rtmp://host/kLive/?p=102&e=0_rkij47dr&i=0&t=dj94kfit');
  t.deepEqual(checkArgs(raw), { ok: true, args: { entryId: '0_rkij47dr', partnerId: 102, serverIndex: 0, token: 'dj94kfit' } });
});

test('a trailing slash on the last query value is dropped (encoders end the app with /)', (t) => {
  const check = checkArgs(argsFromQuery(q('p=102&e=0_rkij47dr&i=1&t=dj94kfit/')));
  t.true(check.ok);
  if (check.ok) {
    t.is(check.args.token, 'dj94kfit');
    t.is(check.args.serverIndex, 1);
  }
});

test('kpublish hostname: entry from the first label, p → 0, b → 1, partner -5 when absent', (t) => {
  const primary = checkArgs(argsFromConnect(q('t=tok12345'), 'rtmp://0_rkij47dr.p.ny.kpublish.kaltura.com:1935/kLive?t=tok12345'));
  t.deepEqual(primary, { ok: true, args: { entryId: '0_rkij47dr', partnerId: -5, serverIndex: 0, token: 'tok12345' } });
  const backup = checkArgs(argsFromConnect(q('t=tok12345'), 'rtmp://1_abcdefgh.b.kpublish.kaltura.com/kLive'));
  t.deepEqual(backup, { ok: true, args: { entryId: '1_abcdefgh', partnerId: -5, serverIndex: 1, token: 'tok12345' } });
  // Query partner and index win over the hostname's defaults; the hostname's entry wins over e.
  const mixed = checkArgs(argsFromConnect(q('p=102&i=1&e=0_zzzzzzzz&t=x'), 'rtmp://0_rkij47dr.p.a.b.kpublish.kaltura.com/kLive'));
  t.deepEqual(mixed, { ok: true, args: { entryId: '0_rkij47dr', partnerId: 102, serverIndex: 1, token: 'x' } });
  // Not kpublish: nothing from the host.
  t.deepEqual(argsFromConnect([], 'rtmp://0_rkij47dr.p.example.com/kLive'), {});
});

test('missing arguments are reported in the old order: entryId, token, partnerId, server index', (t) => {
  const message = (query: string) => {
    const r = checkArgs(argsFromQuery(q(query)));
    return r.ok ? 'ok' : r.message;
  };
  t.is(message('p=102&i=0&t=x'), 'Missing argument: entryId');
  t.is(message('t=x'), 'Missing argument: entryId');
  t.is(message('p=102&e=0_rkij47dr&i=0'), 'Missing argument: token');
  t.is(message('e=0_rkij47dr&i=0'), 'Missing argument: token');
  t.is(message('e=0_rkij47dr&i=0&t=x'), 'Missing argument: partnerId');
  t.is(message('p=102&e=0_rkij47dr&t=x'), 'Missing argument: server index');
  t.is(message('p=102&e=0_rkij47dr&t=&i=0'), 'Missing argument: token');
  t.is(message('p=abc&e=0_rkij47dr&t=x&i=0'), 'Invalid argument: partnerId');
  t.is(message('p=102&e=0_rkij47dr&t=x&i=2'), 'Invalid argument: server index');
  t.is(message('p=102&e=rkij47dr&t=x&i=0'), 'Invalid argument: entryId');
});

test('stream names: <entryId>_<n>, same entry, n any positive integer without leading zeros', (t) => {
  t.deepEqual(checkStreamName('0_rkij47dr_1', '0_rkij47dr'), { ok: true, entryId: '0_rkij47dr', suffix: 1 });
  t.deepEqual(checkStreamName('0_rkij47dr_3', '0_rkij47dr'), { ok: true, entryId: '0_rkij47dr', suffix: 3 });
  t.like(checkStreamName('0_otherent_1', '0_rkij47dr'), {
    ok: false,
    reason: 'entry-mismatch',
    message: 'Published stream name [0_otherent_1] does not match entry id [0_rkij47dr]',
  });
  t.like(checkStreamName('cam1', '0_rkij47dr'), { ok: false, reason: 'invalid', message: 'Published stream is invalid [cam1]' });
  t.like(checkStreamName('0_rkij47dr_abc', '0_rkij47dr'), {
    ok: false,
    reason: 'bad-suffix',
    message: 'Published stream name [0_rkij47dr_abc], has wrong suffix stream name: abc',
  });
  t.like(checkStreamName('0_rkij47dr_0', '0_rkij47dr'), { ok: false, reason: 'bad-suffix' });
  // Ingest_4..7 and the audio-language ingests 1000..1019 are Kaltura suffixes too: the
  // conversion profile (serve) decides, not the name.
  t.like(checkStreamName('0_rkij47dr_4', '0_rkij47dr'), { ok: true, suffix: 4 });
  t.like(checkStreamName('0_rkij47dr_7', '0_rkij47dr'), { ok: true, suffix: 7 });
  t.like(checkStreamName('0_rkij47dr_1019', '0_rkij47dr'), { ok: true, suffix: 1019 });
  t.like(checkStreamName('0_rkij47dr_01', '0_rkij47dr'), { ok: false, reason: 'bad-suffix', message: 'Published stream name [0_rkij47dr_01], has wrong suffix stream name: 01' });
  t.like(checkStreamName('0_rkij47dr_-1', '0_rkij47dr'), { ok: false, reason: 'bad-suffix' });
  t.like(checkStreamName('0_rkij47dr_1e3', '0_rkij47dr'), { ok: false, reason: 'bad-suffix' });
});

test('tokens are masked in URLs; remote addresses lose their port', (t) => {
  t.is(maskUrl('rtmp://h/kLive/?p=102&e=0_rkij47dr&i=0&t=dj94kfit'), 'rtmp://h/kLive/?p=102&e=0_rkij47dr&i=0&t=***');
  t.is(maskUrl('rtmp://h/kLive?t=abc/0_rkij47dr_1'), 'rtmp://h/kLive?t=***/0_rkij47dr_1');
  t.is(ipOf('127.0.0.1:5555'), '127.0.0.1');
  t.is(ipOf('[::1]:5555'), '::1');
});

test('alert JSON has the old server shape and is real JSON', (t) => {
  const text = alertJson('0_rkij47dr', 'LIVE_STREAM_INVALID_TOKEN', 'dj***', 1700000000000);
  t.deepEqual(JSON.parse(text), {
    alerts: [{ Arguments: { entryId: '0_rkij47dr', alertType: 'LIVE_STREAM_INVALID_TOKEN', parameter: 'dj***' }, Time: 1700000000000, Code: 111 }],
    maxSeverity: 4,
  });
  t.deepEqual(JSON.parse(alertJson('0_rkij47dr', 'SOMETHING_ELSE', '', 1)).alerts[0], { Arguments: { entryId: '0_rkij47dr', alertType: 'SOMETHING_ELSE' }, Time: 1, Code: -1 });
});

// ---------------------------------------------------------------------------------------------
// The policy with a scripted API and a manual clock

test('right token: accepted, authenticated as the URL partner with our hostname and index', async (t) => {
  const { api, auth, connect, lastId } = setup();
  const d = await connect(url());
  t.like(d, { accept: true, entryId: ENTRY, via: 'kaltura' });
  t.deepEqual(api.of('authenticate'), [{ action: 'authenticate', entryId: ENTRY, token: 'good', hostname: 'media-1', index: 0, impersonate: 102 }]);
  // A URL partner is impersonated directly (no liveStream.get), as the old server did.
  t.is(api.of('get').length, 0);
  t.like(auth.connection(lastId()), { entryId: ENTRY, partnerId: 102, serverIndex: 0 });
  const pub = await auth.publish({ connectionId: lastId(), streamName: `${ENTRY}_1`, query: [] });
  t.like(pub, { accept: true, entryId: ENTRY });
});

test('partner -5 (kpublish form): liveStream.get learns the partner, authenticate impersonates it', async (t) => {
  const { api, connect } = setup();
  const d = await connect('t=good', { tcUrl: `rtmp://${ENTRY}.p.ny.kpublish.kaltura.com/kLive?t=good` });
  t.like(d, { accept: true, entryId: ENTRY });
  t.deepEqual(
    api.calls.map((c) => [c.action, c.impersonate]),
    [
      ['get', undefined],
      ['authenticate', 102],
    ],
  );
});

test('eCDN / own partner: never impersonates', async (t) => {
  const { api, connect } = setup({ impersonation: 'none' });
  t.like(await connect(url()), { accept: true });
  t.like(await connect('t=good', { tcUrl: `rtmp://${ENTRY}.b.kpublish.kaltura.com/kLive` }), { accept: true });
  t.is(api.of('get').length, 0);
  t.true(api.calls.every((c) => c.impersonate === undefined));
});

test('50 simultaneous connects of one entry make one liveStream.authenticate; all are accepted', async (t) => {
  const { api, auth, connect } = setup();
  let open!: () => void;
  api.gate = new Promise<void>((resolve) => (open = resolve));
  const decisions = Array.from({ length: 50 }, () => connect(url()));
  await new Promise((r) => setImmediate(r));
  open();
  const results = await Promise.all(decisions);
  t.true(results.every((r) => r.accept));
  t.is(api.of('authenticate').length, 1);
  t.like(auth.stats(), { authentications: 1, joinedFlights: 49, acceptedConnects: 50 });
});

test('no re-authentication within 10 s of a success; again after', async (t) => {
  const { api, clock, connect } = setup();
  await connect(url());
  clock.ms += 9_999;
  t.like(await connect(url()), { accept: true, via: 'cache' });
  t.is(api.of('authenticate').length, 1);
  clock.ms += 1;
  t.like(await connect(url()), { accept: true, via: 'kaltura' });
  t.is(api.of('authenticate').length, 2);
});

test('the success cache does not admit another token or serve the other server index', async (t) => {
  const { api, connect } = setup();
  t.like(await connect(url('good')), { accept: true });
  t.like(await connect(url('good', ENTRY, 102, 1)), { accept: true, via: 'kaltura' });
  const wrong = await connect(url('bad'));
  t.false(wrong.accept);
  t.is(api.of('authenticate').length, 3);
});

test('wrong token: refused with Kaltura message, beacon 111 as the entry partner, then that token (only) blocked for 30 s with the countdown', async (t) => {
  const { api, auth, clock, connect } = setup();
  const first = await connect(url('bad'));
  t.false(first.accept);
  if (first.accept) return;
  t.is(first.error.code, 'KALTURA_REFUSED');
  t.is(first.error.kalturaCode, 'LIVE_STREAM_INVALID_TOKEN');
  t.is(first.error.message, `(${ENTRY}) authentication failed. Invalid token supplied for live entry [${ENTRY}] (LIVE_STREAM_INVALID_TOKEN)`);
  await auth.flushBeacons();
  const [beacon] = api.of('beacon');
  t.is(beacon.impersonate, 102);
  t.like(beacon.beacon, { objectType: 'KalturaBeacon', relatedObjectType: '4', objectId: ENTRY, eventType: '0_healthData' });
  const data = JSON.parse(beacon.beacon?.privateData ?? '{}') as { alerts: Array<{ Code: number; Arguments: Record<string, string> }>; maxSeverity: number };
  t.is(data.alerts[0].Code, 111);
  t.is(data.maxSeverity, 4);
  t.is(data.alerts[0].Arguments.alertType, 'LIVE_STREAM_INVALID_TOKEN');
  t.not(data.alerts[0].Arguments.parameter, 'bad', 'the token is not sent in clear');

  clock.ms += 7_400;
  const blocked = await connect(url('bad'));
  t.false(blocked.accept);
  if (!blocked.accept) {
    t.is(blocked.error.code, 'BLOCKED');
    t.is(
      blocked.error.message,
      `Connection blocked due to previous error [7] seconds ago: Invalid token supplied for live entry [${ENTRY}]. Try to connect in 23 seconds`,
    );
  }
  clock.ms += 22_599; // 29.999 s after the failure
  const still = await connect(url('bad'));
  t.regex(still.accept ? '' : still.error.message, /\[29\] seconds ago: .*Try to connect in 1 seconds$/);
  t.is(api.of('authenticate').length, 1, 'blocked attempts do not reach Kaltura');
  t.is(api.of('beacon').length, 1, 'blocked attempts send no beacon');
  // The block is the wrong token's only: the right token of the same entry was never affected.
  t.like(await connect(url('good')), { accept: true, via: 'kaltura' });
  clock.ms += 1;
  t.like(await connect(url('bad')), { accept: false });
  t.is(api.of('authenticate').length, 3, 'after 30 s the wrong token is asked again');
});

test('unknown entry: refused with ENTRY_ID_NOT_FOUND and beacon 113', async (t) => {
  const { api, auth, connect } = setup();
  const d = await connect(url('good', '0_nosuch12'));
  t.false(d.accept);
  if (!d.accept) t.is(d.error.kalturaCode, 'ENTRY_ID_NOT_FOUND');
  await auth.flushBeacons();
  t.is(JSON.parse(api.of('beacon')[0].beacon?.privateData ?? '{}').alerts[0].Code, 113);
});

test('unknown entry with partner -5: no beacon (its partner is unknown), still blocked', async (t) => {
  const { api, auth, connect } = setup();
  const d = await connect('t=good', { tcUrl: 'rtmp://0_nosuch12.p.kpublish.kaltura.com/kLive' });
  t.false(d.accept);
  await auth.flushBeacons();
  t.is(api.of('beacon').length, 0);
  const again = await connect('t=good', { tcUrl: 'rtmp://0_nosuch12.p.kpublish.kaltura.com/kLive' });
  t.like(again.accept ? {} : again.error, { code: 'BLOCKED' });
});

test('a stream name of another entry: refused (bad name) and beacon 112 with the stream name', async (t) => {
  const { api, auth, connect, lastId } = setup();
  await connect(url());
  const d = await auth.publish({ connectionId: lastId(), streamName: `${OTHER}_1`, query: [] });
  t.false(d.accept);
  if (!d.accept) {
    t.is(d.error.code, 'INCORRECT_STREAM_NAME');
    t.is(d.error.message, `Published stream name [${OTHER}_1] does not match entry id [${ENTRY}]`);
  }
  await auth.flushBeacons();
  const beacon = api.of('beacon')[0];
  t.is(beacon.impersonate, 102);
  t.deepEqual(JSON.parse(beacon.beacon?.privateData ?? '{}').alerts[0].Arguments, { entryId: ENTRY, alertType: 'INCORRECT_STREAM_NAME', parameter: `${OTHER}_1` });
  t.is(JSON.parse(beacon.beacon?.privateData ?? '{}').alerts[0].Code, 112);
});

test('a bare connect is admitted; the publish stream-name query must then carry the arguments', async (t) => {
  const { api, auth } = setup();
  t.like(await auth.connect({ connectionId: 1, remoteAddress: '1.2.3.4:5', app: 'kLive', tcUrl: 'rtmp://h/kLive', query: [] }), { accept: true, via: 'deferred' });
  const missing = await auth.publish({ connectionId: 1, streamName: `${ENTRY}_1`, query: q('e=0_rkij47dr&p=102&i=0') });
  t.like(missing.accept ? {} : missing.error, { code: 'MISSING_ARGUMENT', message: 'Missing argument: token' });
  t.like(await auth.connect({ connectionId: 2, remoteAddress: '1.2.3.4:6', app: 'kLive', tcUrl: 'rtmp://h/kLive', query: [] }), { accept: true });
  t.like(await auth.publish({ connectionId: 2, streamName: `${ENTRY}_1`, query: q(url()) }), { accept: true, entryId: ENTRY, via: 'kaltura' });
  t.is(api.of('authenticate').length, 1);
  const refusal = auth.refusals()[0];
  t.like(refusal, { stage: 'publish', code: 'MISSING_ARGUMENT', ip: '1.2.3.4', connectionId: 1 });
  t.is(refusal.url, `rtmp://h/kLive/${ENTRY}_1?e=0_rkij47dr&p=102&i=0`);
});

test('Kaltura hanging: the connect is refused after the decision timeout; other entries are not held up', async (t) => {
  const { api, auth, connect } = setup({ decisionTimeoutMs: 150 });
  api.hang.add(ENTRY);
  const started = Date.now();
  const pending = connect(url());
  const other = await connect(url('other', OTHER, 103));
  t.like(other, { accept: true, entryId: OTHER });
  // The other entry did not wait for the hung one: it was decided while that one still hangs.
  t.is(auth.stats().timeouts, 0, 'the other entry was decided before the hung one timed out');
  const slow = await pending;
  const elapsed = Date.now() - started;
  t.false(slow.accept);
  if (!slow.accept) {
    t.is(slow.error.code, 'KALTURA_UNAVAILABLE');
    t.is(slow.error.message, 'Kaltura API unavailable: timeout after 150 ms');
  }
  t.true(elapsed >= 140, `refused after ${elapsed} ms, not before the 150 ms decision timeout`);
  t.is(auth.stats().timeouts, 1);
  // The hang is not a Kaltura refusal: no block, no beacon.
  await auth.flushBeacons();
  t.is(api.of('beacon').length, 0);
});

test('a transport failure refuses with the reason but neither blocks the entry nor sends a beacon', async (t) => {
  const { api, auth, connect } = setup();
  api.failWith = new KalturaNetworkError({ code: 'NETWORK', message: 'livestream.authenticate failed: ECONNREFUSED', service: 'livestream', action: 'authenticate', attempts: 1 });
  const d = await connect(url());
  t.like(d.accept ? {} : d.error, { code: 'KALTURA_UNAVAILABLE', message: 'Kaltura API unavailable: livestream.authenticate failed: ECONNREFUSED' });
  api.failWith = undefined;
  t.like(await connect(url()), { accept: true });
  await auth.flushBeacons();
  t.is(api.of('beacon').length, 0);
});

test('refusals: the last 100 are kept with masked URL, message, ip and time', async (t) => {
  const { auth, clock, connect } = setup();
  for (let i = 0; i < 105; i++) {
    clock.ms += 1;
    await connect(`p=102&i=0&t=secret${i}`);
  }
  const list = auth.refusals();
  t.is(list.length, 100);
  t.is(list[0].time, 1_700_000_000_000 + 6);
  t.like(list[99], { message: 'Missing argument: entryId', ip: '10.1.2.3', stage: 'connect', code: 'MISSING_ARGUMENT' });
  t.is(list[99].url, 'rtmp://h/kLive/?p=102&i=0&t=***');
  t.false(JSON.stringify(list).includes('secret'));
});

test('only the configured application is served', async (t) => {
  const { api, auth } = setup({ applicationName: 'kLive' });
  const other = await auth.connect({ connectionId: 1, remoteAddress: '1.2.3.4:5', app: 'live', tcUrl: `rtmp://h/live/?${url()}`, query: q(url()) });
  t.like(other.accept ? {} : other.error, { code: 'UNKNOWN_APPLICATION', message: 'Application not found: live' });
  t.like(await auth.connect({ connectionId: 2, remoteAddress: '1.2.3.4:6', app: 'kLive/_definst_', tcUrl: `rtmp://h/kLive/_definst_?${url()}`, query: q(url()) }), { accept: true });
  t.is(api.of('authenticate').length, 1);
});
