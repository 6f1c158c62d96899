/**
 * KalturaClient against a real HTTP server on 127.0.0.1 scripted per test: wire format,
 * Kaltura exceptions, multirequest, and the faults the client must survive (timeouts, 5xx,
 * dropped connections, expired KS).
 */
import test from 'ava';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';

import { join } from 'node:path';
import { tempDir } from './helpers/media';
import { inspect } from 'node:util';
import { AdminSession } from '../src/kaltura/admin-session';
import { KalturaApi } from '../src/kaltura/api';
import { KalturaClient, type KalturaLogEntry } from '../src/kaltura/client';
import { KalturaApiError, KalturaNetworkError } from '../src/kaltura/errors';
import { decodeKs } from '../src/kaltura/ks';

const SECRET = 'client-test-secret-7d1e2f9a';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The JSON body, when it is JSON. */
  json: Record<string, unknown>;
}

type Script = (req: Seen, res: ServerResponse) => void;

/** Starts a server answering request i with script[i] (the last one repeats). */
async function kalturaServer(t: { teardown: (fn: () => void) => void }, script: Script[]): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let json: Record<string, unknown> = {};
      if (req.headers['content-type'] === 'application/json') json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json };
      seen.push(s);
      const handler = script[Math.min(seen.length - 1, script.length - 1)];
      handler(s, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const json = (body: unknown, status = 200): Script => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const status = (code: number): Script => (_req, res) => {
  res.writeHead(code, { 'content-type': 'text/html' });
  res.end(`<html>${code}</html>`);
};
const hang: Script = () => {
  /* never answers */
};
const drop: Script = (_req, res) => res.socket?.destroy();
const exception = (code: string, message: string, args: unknown = []): Script =>
  json({ objectType: 'KalturaAPIException', code, message, args });
// The exact shape kaltura/server sends for an expired KS (KalturaFrontController, INVALID_KS).
const invalidKs = exception('INVALID_KS', 'Invalid KS "EXPIRED", Error "-1,INVALID_STR"', { KSID: 'EXPIRED', ERR_CODE: '-1', ERR_DESC: 'INVALID_STR' });

function setup(url: string, extra: Partial<ConstructorParameters<typeof KalturaClient>[0]> = {}) {
  const session = new AdminSession({ secret: SECRET, partnerId: -5 });
  const logs: KalturaLogEntry[] = [];
  const client = new KalturaClient({
    serviceUrl: `${url}/`,
    partnerId: -5,
    timeoutMs: 2000,
    clientTag: 'klive-server:test-host',
    session,
    retryBaseMs: 20,
    log: (e) => logs.push(e),
    ...extra,
  });
  return { session, client, logs, api: new KalturaApi(client) };
}

const entry = { objectType: 'KalturaLiveStreamEntry', id: '0_rkij47dr', partnerId: 102, conversionProfileId: 7 };

test('request wire format: path, exact content-type, params + format/ks/clientTag/apiVersion, impersonation', async (t) => {
  const srv = await kalturaServer(t, [json(entry)]);
  const { client, session } = setup(srv.url);
  const result = await client.call<typeof entry>('livestream', 'get', { entryId: '0_rkij47dr', unset: null, missing: undefined }, { impersonatePartnerId: 102, readOnly: true });
  t.deepEqual(result, entry);
  const [req] = srv.seen;
  t.is(req.method, 'POST');
  t.is(req.url, '/api_v3/service/livestream/action/get');
  t.is(req.headers['content-type'], 'application/json');
  t.like(req.json, { entryId: '0_rkij47dr', format: 1, clientTag: 'klive-server:test-host', partnerId: 102 });
  t.false('unset' in req.json || 'missing' in req.json, 'null/undefined params are not sent');
  t.regex(String(req.json.apiVersion), /^\d+\.\d+\.\d+$/);
  t.is(req.json.ks, session.ks());
  t.like(decodeKs(String(req.json.ks), SECRET), { partnerId: -5, type: 2, userId: 'MediaServer' });

  // Without impersonation there is no partnerId; nested objects travel as JSON objects.
  await client.call('beacon_beacon', 'add', { beacon: { objectType: 'KalturaBeacon', eventType: '0_healthData', privateData: '{}' } });
  const second = srv.seen[1];
  t.false('partnerId' in second.json);
  t.deepEqual(second.json.beacon, { objectType: 'KalturaBeacon', eventType: '0_healthData', privateData: '{}' });
});

test('a KalturaAPIException answer becomes a typed KalturaApiError with code, message, args', async (t) => {
  const srv = await kalturaServer(t, [
    exception('ENTRY_ID_NOT_FOUND', 'Entry id "0_nope1234" not found', { ENTRY_ID: '0_nope1234' }),
    exception('SERVICE_FORBIDDEN', 'The access to service [x] is forbidden'),
  ]);
  const { client } = setup(srv.url);
  const err = await t.throwsAsync(client.call('livestream', 'get', { entryId: '0_nope1234' }, { readOnly: true }), { instanceOf: KalturaApiError });
  t.is(err?.code, 'ENTRY_ID_NOT_FOUND');
  t.is(err?.message, 'Entry id "0_nope1234" not found');
  t.deepEqual(err?.args, { ENTRY_ID: '0_nope1234' });
  t.is(err?.service, 'livestream');
  t.is(err?.action, 'get');
  t.is(srv.seen.length, 1, 'API errors are answers, not retried');
  const err2 = await t.throwsAsync(client.call('x', 'y'), { instanceOf: KalturaApiError });
  t.deepEqual(err2?.args, {}, 'PHP empty-array args normalised');
  t.deepEqual(client.stats().errorsByCode, { ENTRY_ID_NOT_FOUND: 1, SERVICE_FORBIDDEN: 1 });
});

test('multirequest: flat 1-based keys, nested objects kept, per-item exceptions returned in place', async (t) => {
  const srv = await kalturaServer(t, [json([entry, { objectType: 'KalturaAPIException', code: 'PERMISSION_NOT_FOUND', message: 'Permission not found', args: { PERMISSION_NAME: 'FEATURE_X' } }, true])]);
  const { client } = setup(srv.url);
  const out = await client.multirequest(
    [
      { service: 'livestream', action: 'get', params: { entryId: '0_rkij47dr' } },
      { service: 'permission', action: 'get', params: { permissionName: 'FEATURE_X' } },
      { service: 'beacon_beacon', action: 'add', params: { beacon: { objectType: 'KalturaBeacon', objectId: '{1:result:id}' } } },
    ],
    { impersonatePartnerId: 102 },
  );
  const [req] = srv.seen;
  t.is(req.url, '/api_v3/service/multirequest');
  t.is(req.headers['content-type'], 'application/json');
  t.like(req.json, {
    format: 1,
    partnerId: 102,
    clientTag: 'klive-server:test-host',
    '1:service': 'livestream',
    '1:action': 'get',
    '1:entryId': '0_rkij47dr',
    '2:service': 'permission',
    '2:action': 'get',
    '2:permissionName': 'FEATURE_X',
    '3:service': 'beacon_beacon',
    '3:action': 'add',
  });
  t.deepEqual(req.json['3:beacon'], { objectType: 'KalturaBeacon', objectId: '{1:result:id}' });
  t.true(typeof req.json.ks === 'string');
  t.deepEqual(out[0], entry);
  t.true(out[1] instanceof KalturaApiError);
  t.like(out[1] as KalturaApiError, { code: 'PERMISSION_NOT_FOUND', service: 'permission', action: 'get', args: { PERMISSION_NAME: 'FEATURE_X' } });
  t.is(out[2], true);
});

test('timeout: TIMEOUT within the timeout plus slack, a write is sent once', async (t) => {
  const srv = await kalturaServer(t, [hang]);
  const { client } = setup(srv.url);
  const started = Date.now();
  const err = await t.throwsAsync(client.call('livestream', 'authenticate', { entryId: 'e' }, { timeoutMs: 300 }), { instanceOf: KalturaNetworkError });
  const elapsed = Date.now() - started;
  t.is(err?.code, 'TIMEOUT');
  // Not before the 300 ms timeout; the upper bound is the test's: a loaded machine is slower.
  t.true(elapsed >= 280, `took ${elapsed} ms`);
  t.is(srv.seen.length, 1);
  t.is(err?.attempts, 1);
});

test('read-only calls retry 5xx and dropped connections with backoff, then succeed', async (t) => {
  const srv = await kalturaServer(t, [status(503), drop, status(502), json(entry)]);
  const { client, logs } = setup(srv.url);
  const result = await client.call('livestream', 'get', { entryId: '0_rkij47dr' }, { readOnly: true });
  t.deepEqual(result, entry);
  t.is(srv.seen.length, 4);
  t.deepEqual(client.stats().errorsByCode, { HTTP_STATUS: 2, NETWORK: 1 });
  t.is(logs.filter((l) => l.event === 'retry').length, 3);
});

test('read-only retries stop after `retries`; 4xx is not retried', async (t) => {
  const srv = await kalturaServer(t, [status(500)]);
  const { client } = setup(srv.url, { retries: 2 });
  const err = await t.throwsAsync(client.call('permission', 'get', {}, { readOnly: true }), { instanceOf: KalturaNetworkError });
  t.like(err, { code: 'HTTP_STATUS', status: 500, attempts: 3 });
  t.is(srv.seen.length, 3);

  const srv404 = await kalturaServer(t, [status(404)]);
  const c404 = setup(srv404.url).client;
  const e404 = await t.throwsAsync(c404.call('permission', 'get', {}, { readOnly: true }), { instanceOf: KalturaNetworkError });
  t.like(e404, { code: 'HTTP_STATUS', status: 404, attempts: 1 });
  t.is(srv404.seen.length, 1);
});

test('writes are not retried on 5xx or a dropped connection', async (t) => {
  const srv = await kalturaServer(t, [status(502), drop, json(true)]);
  const { client } = setup(srv.url);
  const e1 = await t.throwsAsync(client.call('beacon_beacon', 'add', { beacon: {} }), { instanceOf: KalturaNetworkError });
  t.like(e1, { code: 'HTTP_STATUS', status: 502, attempts: 1 });
  t.is(srv.seen.length, 1);
  const e2 = await t.throwsAsync(client.call('beacon_beacon', 'add', { beacon: {} }), { instanceOf: KalturaNetworkError });
  t.like(e2, { code: 'NETWORK', attempts: 1 });
  t.is(srv.seen.length, 2);
});

test('INVALID_KS: the admin KS is renewed once and the call (even a write) replayed with the new KS', async (t) => {
  const srv = await kalturaServer(t, [invalidKs, json(entry)]);
  const { client, session } = setup(srv.url);
  const result = await client.call('livestream', 'authenticate', { entryId: '0_rkij47dr', token: 'tok' });
  t.deepEqual(result, entry);
  t.is(srv.seen.length, 2);
  const [first, second] = srv.seen.map((s) => String(s.json.ks));
  t.not(first, second);
  t.is(session.renewals, 1);
  t.is(second, session.ks());
  t.is(decodeKs(second, SECRET).userId, 'MediaServer');
  t.is(client.stats().errorsByCode.INVALID_KS, 1);
});

test('INVALID_KS twice: exactly one replay, then the error; no renewal for a caller-supplied KS', async (t) => {
  const srv = await kalturaServer(t, [invalidKs]);
  const { client, session } = setup(srv.url);
  const err = await t.throwsAsync(client.call('livestream', 'get', {}, { readOnly: true }), { instanceOf: KalturaApiError });
  t.is(err?.code, 'INVALID_KS');
  t.deepEqual(err?.args, { KSID: 'EXPIRED', ERR_CODE: '-1', ERR_DESC: 'INVALID_STR' });
  t.is(srv.seen.length, 2);
  t.is(session.renewals, 1);

  await t.throwsAsync(client.call('livestream', 'get', {}, { ks: 'djJ8MTAyfGZvcmVpZ24ta3M=' }), { instanceOf: KalturaApiError });
  t.is(srv.seen.length, 3);
  t.is(srv.seen[2].json.ks, 'djJ8MTAyfGZvcmVpZ24ta3M=');
  t.is(session.renewals, 1);
});

test('multirequest where every item says INVALID_KS is renewed and replayed once', async (t) => {
  const item = { objectType: 'KalturaAPIException', code: 'INVALID_KS', message: 'Invalid KS "EXPIRED", Error "-1,INVALID_STR"', args: {} };
  const srv = await kalturaServer(t, [json([item, item]), json([entry, true])]);
  const { client, session } = setup(srv.url);
  const out = await client.multirequest([
    { service: 'livestream', action: 'get', params: { entryId: 'a' } },
    { service: 'beacon_beacon', action: 'add', params: {} },
  ]);
  t.deepEqual(out, [entry, true]);
  t.is(srv.seen.length, 2);
  t.not(srv.seen[0].json.ks, srv.seen[1].json.ks);
  t.is(session.renewals, 1);
});

test('conversionProfileServe returns the XML text; its exceptions are still typed', async (t) => {
  const xml = '<?xml version="1.0"?>\n<Root><Transcode><Encodes/></Transcode></Root>';
  const srv = await kalturaServer(t, [
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(xml);
    },
    exception('INGEST_NOT_FOUND_IN_CONVERSION_PROFILE', 'Ingest not found', { STREAM_NAME: '0_rkij47dr_9' }),
  ]);
  const { api } = setup(srv.url);
  const meta = { videodatarate: 2500, width: 1280, height: 720, videocodecidstring: 'avc1' };
  t.is(await api.conversionProfileServe('0_rkij47dr_1', 'media-1', meta, 102), xml);
  const [req] = srv.seen;
  t.is(req.url, '/api_v3/service/wowza_liveconversionprofile/action/serve');
  t.like(req.json, { streamName: '0_rkij47dr_1', hostname: 'media-1', partnerId: 102 });
  t.deepEqual(JSON.parse(String(req.json.extraParams)), meta, 'extraParams is a JSON string');
  const err = await t.throwsAsync(api.conversionProfileServe('0_rkij47dr_9', 'media-1', undefined, 102), { instanceOf: KalturaApiError });
  t.is(err?.code, 'INGEST_NOT_FOUND_IN_CONVERSION_PROFILE');
});

test('a 200 that is not a Kaltura answer is BAD_RESPONSE', async (t) => {
  const srv = await kalturaServer(t, [(_req, res) => res.end('<html>proxy error</html>')]);
  const { client } = setup(srv.url);
  const err = await t.throwsAsync(client.call('livestream', 'get', {}), { instanceOf: KalturaNetworkError });
  t.is(err?.code, 'BAD_RESPONSE');
});

test('wrappers send Kaltura parameter names (authenticate, reportStatus, lists, appendRecording)', async (t) => {
  const srv = await kalturaServer(t, [json(entry), json({ objectType: 'KalturaWowzaMediaServerNode', id: 9 }), json({ objectType: 'KalturaFlavorAssetListResponse', objects: [], totalCount: 0 }), json(entry)]);
  const { api } = setup(srv.url);
  await api.liveStreamAuthenticate('0_rkij47dr', 'dj94kfit', 'media-1', 1, 102);
  await api.serverNodeReportStatus('media-1', { objectType: 'KalturaWowzaMediaServerNode', hostName: 'media-1', name: 'media-1' });
  await api.flavorAssetList('0_rkij47dr', 102);
  await api.liveStreamAppendRecording(
    { entryId: '0_rkij47dr', assetId: '0_asset001', mediaServerIndex: 0, resource: { objectType: 'KalturaServerFileResource', localFilePath: '/rec/a.mp4' }, duration: 900.5, isLastChunk: false },
    102,
  );
  const [auth, report, list, append] = srv.seen;
  t.is(auth.url, '/api_v3/service/livestream/action/authenticate');
  t.like(auth.json, { entryId: '0_rkij47dr', token: 'dj94kfit', hostname: 'media-1', mediaServerIndex: '1', partnerId: 102 });
  t.is(report.url, '/api_v3/service/servernode/action/reportStatus');
  t.like(report.json, { hostName: 'media-1', serverNodeStatus: 1 });
  t.like(report.json.serverNode as object, { objectType: 'KalturaWowzaMediaServerNode', hostName: 'media-1' });
  t.false('partnerId' in report.json);
  t.deepEqual(list.json.filter, { objectType: 'KalturaFlavorAssetFilter', entryIdEqual: '0_rkij47dr' });
  t.like(append.json, { assetId: '0_asset001', mediaServerIndex: '0', duration: 900.5, isLastChunk: false });
  t.deepEqual(append.json.resource, { objectType: 'KalturaServerFileResource', localFilePath: '/rec/a.mp4' });
});

test('uploadToken.upload sends multipart with the chunk fields and the file bytes in fileData', async (t) => {
  const srv = await kalturaServer(t, [json({ objectType: 'KalturaUploadToken', id: '0_tok', status: 2 })]);
  const { api, session } = setup(srv.url);
  const dir = tempDir('upload');
  const file = join(dir, 'seg.mp4');
  const bytes = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7) % 256));
  writeFileSync(file, bytes);
  const token = await api.uploadTokenUpload('0_tok', { path: file, start: 1000, end: 61000 }, { resume: true, finalChunk: false, resumeAt: 1000 }, 102);
  t.is(token.id, '0_tok');
  const [req] = srv.seen;
  t.is(req.url, '/api_v3/service/uploadtoken/action/upload');
  const ct = String(req.headers['content-type']);
  t.regex(ct, /^multipart\/form-data; boundary=/);
  t.is(Number(req.headers['content-length']), req.body.length);
  const parts = parseMultipart(req.body, ct.split('boundary=')[1]);
  t.like(Object.fromEntries([...parts].map(([k, v]) => [k, v.data.toString('latin1')])), {
    uploadTokenId: '0_tok',
    resume: 'true',
    finalChunk: 'false',
    resumeAt: '1000',
    format: '1',
    partnerId: '102',
    ks: session.ks(),
    clientTag: 'klive-server:test-host',
  });
  t.is(parts.get('fileData')?.filename, 'seg.mp4');
  t.true(parts.get('fileData')?.data.equals(bytes.subarray(1000, 61000)));
});

test('the secret never appears in errors, logs, or the client object; errors carry no KS', async (t) => {
  const srv = await kalturaServer(t, [invalidKs, invalidKs, status(500), hang, drop, (_req, res) => res.end('garbage')]);
  const { client, logs, session } = setup(srv.url, { retries: 0 });
  const errors: unknown[] = [];
  for (const opts of [{}, { readOnly: true }, { timeoutMs: 200 }, {}, {}]) {
    errors.push(await t.throwsAsync(client.call('livestream', 'get', { entryId: 'x' }, opts)));
  }
  const texts = [
    ...errors.flatMap((e) => [String(e), (e as Error).stack ?? '', JSON.stringify(e), inspect(e, { depth: Infinity, showHidden: true })]),
    JSON.stringify(logs),
    inspect(client, { depth: Infinity }),
    JSON.stringify(client),
    JSON.stringify(client.stats()),
  ];
  const kses = [...srv.seen.map((s) => String(s.json.ks)), session.ks()];
  t.true(kses.length >= 6);
  for (const text of texts) {
    t.false(text.includes(SECRET), text);
    for (const ks of kses) t.false(text.includes(ks), `KS found in: ${text.slice(0, 200)}`);
  }
  t.deepEqual(
    errors.map((e) => (e as { code: string }).code),
    ['INVALID_KS', 'HTTP_STATUS', 'TIMEOUT', 'NETWORK', 'BAD_RESPONSE'],
  );
});

test('stats: calls, latency per action, last success', async (t) => {
  const srv = await kalturaServer(t, [json(entry), json(entry), exception('X', 'x')]);
  const { client } = setup(srv.url);
  t.is(client.stats().lastSuccessAt, undefined);
  const before = Date.now();
  await client.call('livestream', 'get', {}, { readOnly: true });
  await client.call('livestream', 'get', {}, { readOnly: true });
  await t.throwsAsync(client.call('beacon_beacon', 'add', {}));
  const s = client.stats();
  t.is(s.calls, 3);
  t.true((s.lastSuccessAt ?? 0) >= before);
  t.is(s.latencyByAction['livestream.get']?.count, 2);
  t.is(s.latencyByAction['beacon_beacon.add']?.count, 1);
  t.true((s.latencyByAction['livestream.get']?.maxMs ?? -1) >= 0);
  t.true(typeof s.lastLatencyMs === 'number');
  t.deepEqual(s.errorsByCode, { X: 1 });
});

/** Minimal multipart/form-data parser for the upload test. */
function parseMultipart(body: Buffer, boundary: string): Map<string, { filename?: string; data: Buffer }> {
  const out = new Map<string, { filename?: string; data: Buffer }>();
  const delim = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    const start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    const next = body.indexOf(delim, headerEnd);
    const headers = body.subarray(start + 2, headerEnd).toString('utf8');
    const name = /name="([^"]*)"/.exec(headers)?.[1] ?? '';
    const filename = /filename="([^"]*)"/.exec(headers)?.[1];
    out.set(name, { filename, data: body.subarray(headerEnd + 4, next - 2) });
    pos = next;
  }
  return out;
}
