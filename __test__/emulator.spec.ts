/**
 * The embedded Kaltura API emulator over real HTTP: Kaltura's official npm client against it,
 * plain HTTP for the wire quirks (JSON content type, XML, multirequest, KS errors,
 * impersonation, the Wowza transcode template, chunked uploads), and the fixtures loader.
 */
import test, { type ExecutionContext } from 'ava';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/media';
import { XMLParser } from 'fast-xml-parser';
import {
  DEMO_ADMIN_SECRET,
  DEMO_ENTRY_ID,
  DEMO_ENTRY_TOKEN,
  DEMO_MBR_ENTRY_ID,
  DEMO_PASSTHROUGH_ENTRY_ID,
  DEMO_USER_SECRET,
  MEDIA_SERVER_ADMIN_SECRET,
  EmulatorError,
  demoFixtures,
  liveAssetId,
  loadFixtures,
  parseKs,
  startKalturaEmulator,
  type EmulatorFixtures,
  type KalturaEmulator,
} from '../src/dev';

// ---------------------------------------------------------------------------------------------
// Kaltura's official Node client (no type declarations: the few parts used are typed here).

interface KalturaRequest<T> {
  execute(client: KalturaClient): Promise<T>;
  add(other: KalturaRequest<unknown>): KalturaRequest<unknown[]>;
}
interface KalturaClient {
  setKs(ks: string): void;
  setPartnerId(id: number): void;
}
interface KalturaClientModule {
  Configuration: new () => { serviceUrl: string; setLogger(logger: unknown): void };
  Client: new (config: unknown) => KalturaClient;
  objects: {
    LiveStreamEntry: new (o?: object) => object;
    FlavorAssetFilter: new () => { entryIdEqual?: string };
    Beacon: new (o?: object) => object;
    UploadToken: new (o?: object) => object;
  };
  services: {
    session: {
      start(secret: string, userId: string, type: number, partnerId: number, expiry: number, privileges: string): KalturaRequest<string>;
      end(): KalturaRequest<null>;
    };
    liveStream: {
      get(entryId: string): KalturaRequest<WireObject>;
      authenticate(entryId: string, token: string, hostname?: string, mediaServerIndex?: number): KalturaRequest<WireObject>;
    };
    flavorAsset: { listAction(filter: object): KalturaRequest<{ objectType: string; totalCount: number; objects: WireObject[] }> };
    beacon: { add(beacon: object, shouldLog?: number): KalturaRequest<boolean> };
    uploadToken: {
      add(token: object): KalturaRequest<WireObject>;
      upload(id: string, data: Buffer, resume: boolean, finalChunk: boolean, resumeAt?: number): KalturaRequest<WireObject>;
    };
  };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const kaltura = require('kaltura-client') as KalturaClientModule;

type WireObject = { objectType: string; [key: string]: unknown };
type WireError = { objectType: 'KalturaAPIException'; code: string; message: string; args: Record<string, string> | [] };

function officialClient(emu: KalturaEmulator, ks?: string): KalturaClient {
  const config = new kaltura.Configuration();
  config.serviceUrl = emu.url;
  config.setLogger({ log() {}, debug() {}, error() {} });
  const client = new kaltura.Client(config);
  if (ks) client.setKs(ks);
  return client;
}

// ---------------------------------------------------------------------------------------------
// A KS generator of the test's own (Kaltura's generateSession / generateSessionV2), so the
// emulator's verifier is checked against an independent implementation.

interface KsSpec {
  partnerId: number;
  secret: string;
  expiresIn?: number;
  type?: number;
  user?: string;
  privileges?: string;
}

function ksV1(s: KsSpec): string {
  const expiry = Math.floor(Date.now() / 1000) + (s.expiresIn ?? 3600);
  const info = [s.partnerId, s.partnerId, expiry, s.type ?? 2, Math.floor(Math.random() * 65536), s.user ?? 'MediaServer', s.privileges ?? 'disableentitlement'].join(';');
  const signature = createHash('sha1').update(s.secret + info).digest('hex');
  return Buffer.from(`${signature}|${info}`).toString('base64');
}

function ksV2(s: KsSpec): string {
  const fields = new URLSearchParams();
  for (const p of (s.privileges ?? 'disableentitlement,sessionkey:abc').split(',')) {
    const [name, value] = p.split(/:(.*)/s);
    fields.set(name, value ?? '');
  }
  fields.set('_e', String(Math.floor(Date.now() / 1000) + (s.expiresIn ?? 3600)));
  fields.set('_t', String(s.type ?? 2));
  fields.set('_u', s.user ?? 'MediaServer');
  const body = Buffer.concat([randomBytes(16), Buffer.from(fields.toString())]);
  let plain = Buffer.concat([createHash('sha1').update(body).digest(), body]);
  if (plain.length % 16) plain = Buffer.concat([plain, Buffer.alloc(16 - (plain.length % 16))]);
  const cipher = createCipheriv('aes-128-cbc', createHash('sha1').update(s.secret).digest().subarray(0, 16), Buffer.alloc(16));
  cipher.setAutoPadding(false);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([Buffer.from(`v2|${s.partnerId}|`), encrypted]).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

const adminKs = (o: Partial<KsSpec> = {}) => ksV2({ partnerId: 102, secret: DEMO_ADMIN_SECRET, ...o });
const mediaServerKs = (o: Partial<KsSpec> = {}) => ksV2({ partnerId: -5, secret: MEDIA_SERVER_ADMIN_SECRET, ...o });

// ---------------------------------------------------------------------------------------------
// Plain HTTP helpers.

async function emulator(t: ExecutionContext, fixtures: EmulatorFixtures = withOtherPartner()): Promise<KalturaEmulator> {
  const emu = await startKalturaEmulator({ fixtures });
  t.teardown(() => emu.stop());
  return emu;
}

/** Demo fixtures plus a second customer partner (103) with its own entry, for isolation tests. */
function withOtherPartner(): EmulatorFixtures {
  const f = demoFixtures();
  f.partners.push({ id: 103, name: 'Other', adminSecret: 'other-admin-secret', secret: 'other-user', permissions: ['FEATURE_LIVE_STREAM'] });
  f.conversionProfiles.push({ id: 2001, partnerId: 103, name: 'Other passthrough', flavorParamsIds: [32] });
  f.entries.push({ id: '1_other001', partnerId: 103, name: 'Other live', token: 'othertoken', conversionProfileId: 2001, recordStatus: 1, dvrStatus: 0, dvrWindow: 0, segmentDuration: 4000 });
  return f;
}

/** POSTs form-encoded params (Kaltura's classic client style) and parses the JSON answer. */
async function call(emu: KalturaEmulator, service: string, action: string, params: Record<string, string | number>): Promise<WireObject | WireError | unknown> {
  const body = new URLSearchParams({ format: '1' });
  for (const [k, v] of Object.entries(params)) body.set(k, String(v));
  const res = await fetch(`${emu.url}/api_v3/service/${service}/action/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  return res.json();
}

function asError(t: ExecutionContext, value: unknown, code: string): WireError {
  const e = value as WireError;
  t.is(e.objectType, 'KalturaAPIException', JSON.stringify(value));
  t.is(e.code, code);
  return e;
}

const xml = new XMLParser({
  ignoreDeclaration: true,
  parseTagValue: false,
  isArray: (name) => ['item', 'Encode', 'Member', 'StreamNameGroup', 'Property'].includes(name),
});

interface Encode {
  Enable: string;
  Name: string;
  StreamName: string;
  Video: { Codec: string; Transcoder?: string; GPUID?: string; FrameSize?: { FitMode: string; Width?: string; Height?: string }; Profile?: string; Bitrate?: string; KeyFrameInterval?: { FollowSource: string; Interval: string }; Parameters?: unknown };
  Audio: { Codec: string; Bitrate?: string };
}
interface TranscodeTemplate {
  Root: {
    Transcode: {
      Encodes: { Encode?: Encode[] };
      Decode: { Video: { Deinterlace: string } };
      StreamNameGroups: { StreamNameGroup?: Array<{ Name: string; StreamName: string; Members: { Member: Array<{ EncodeName: string }> } }> } | '';
      Properties: { Property?: Array<{ Name: string; Value: string; Type: string }> } | '';
    };
  };
}

async function serve(emu: KalturaEmulator, streamName: string, metadata?: object, extra = ''): Promise<Response> {
  const q = metadata ? `?extraParams=${encodeURIComponent(JSON.stringify(metadata))}` : '';
  return fetch(`${emu.url}/api_v3/index.php/service/wowza_liveConversionProfile/action/serve/streamName/${streamName}/f/transcode.xml${q}${extra}`);
}

async function template(t: ExecutionContext, emu: KalturaEmulator, streamName: string, metadata?: object): Promise<TranscodeTemplate['Root']['Transcode']> {
  const res = await serve(emu, streamName, metadata);
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'text/xml');
  const text = await res.text();
  t.true(text.startsWith('<?xml version="1.0"?>\n<Root>\n  <Transcode>'), text.slice(0, 80));
  return (xml.parse(text) as TranscodeTemplate).Root.Transcode;
}

// ---------------------------------------------------------------------------------------------

test('official kaltura-client: liveStream.get and authenticate return typed KalturaLiveStreamEntry objects', async (t) => {
  const emu = await emulator(t);
  // Kaltura authenticates only for a registered media server (serverNode.reportStatus).
  emu.registerServerNode('media1.example');
  for (const ks of [adminKs(), ksV1({ partnerId: 102, secret: DEMO_ADMIN_SECRET })]) {
    const client = officialClient(emu, ks);
    const entry = await kaltura.services.liveStream.get(DEMO_ENTRY_ID).execute(client);
    t.is(entry.objectType, 'KalturaLiveStreamEntry');
    t.true(new kaltura.objects.LiveStreamEntry(entry) instanceof kaltura.objects.LiveStreamEntry);
    t.like(entry, { id: DEMO_ENTRY_ID, partnerId: 102, conversionProfileId: 1002, dvrStatus: 1, dvrWindow: 120, segmentDuration: 6000, recordStatus: 0 });

    const auth = await kaltura.services.liveStream.authenticate(DEMO_ENTRY_ID, DEMO_ENTRY_TOKEN, 'media1.example', 0).execute(client);
    t.is(auth.objectType, 'KalturaLiveStreamEntry');
    t.is(auth.id, DEMO_ENTRY_ID);
  }
  // KalturaEntryServerNodeStatus AUTHENTICATED = 3.
  t.like(emu.getEntry(DEMO_ENTRY_ID)?.mediaServerNodes, [{ hostName: 'media1.example', index: 0, status: 3 }]);

  const client = officialClient(emu, adminKs());
  const bad = await kaltura.services.liveStream.authenticate(DEMO_ENTRY_ID, 'wrong', 'media1.example', 0).execute(client).then(
    () => t.fail('wrong token accepted'),
    (e: unknown) => e,
  );
  const err = asError(t, bad, 'LIVE_STREAM_INVALID_TOKEN');
  t.is(err.message, `Invalid token supplied for live entry [${DEMO_ENTRY_ID}]`);
  t.deepEqual(err.args, { ENTRY_ID: DEMO_ENTRY_ID });

  const missing = await kaltura.services.liveStream.get('0_nothere1').execute(client).catch((e: unknown) => e);
  t.deepEqual(asError(t, missing, 'ENTRY_ID_NOT_FOUND').args, { ENTRY_ID: '0_nothere1' });
  t.is(emu.callsOf('livestream', 'AUTHENTICATE').length, 3);
});

test('official kaltura-client: session.start KS, multirequest, flavor assets, beacons, uploads; session.end logs out', async (t) => {
  const emu = await emulator(t);
  const client = officialClient(emu);
  const ks = await kaltura.services.session.start(DEMO_ADMIN_SECRET, 'MediaServer', 2, 102, 600, 'disableentitlement').execute(client);
  const parsed = parseKs(ks, (pid) => (pid === 102 ? [DEMO_ADMIN_SECRET] : undefined));
  t.true(parsed.ok && parsed.session.type === 2 && parsed.session.user === 'MediaServer' && parsed.session.privileges === 'disableentitlement');
  const badSecret = await kaltura.services.session.start('nope', '', 2, 102, 600, '').execute(client).catch((e: unknown) => e);
  t.is(asError(t, badSecret, 'START_SESSION_ERROR').message, 'Error while starting session for partner [102]');
  const userWithUserSecret = await kaltura.services.session.start(DEMO_USER_SECRET, 'u', 0, 102, 600, '').execute(client);
  t.is(typeof userWithUserSecret, 'string');
  client.setKs(ks);

  const filter = new kaltura.objects.FlavorAssetFilter();
  filter.entryIdEqual = DEMO_ENTRY_ID;
  const assets = await kaltura.services.flavorAsset.listAction(filter).execute(client);
  t.is(assets.objectType, 'KalturaFlavorAssetListResponse');
  t.deepEqual(assets.objects.map((a) => a.flavorParamsId), [32, 42, 43, 44, 45]);
  t.true(assets.objects.every((a) => a.objectType === 'KalturaLiveAsset' && a.entryId === DEMO_ENTRY_ID));
  t.is(assets.objects[0].id, liveAssetId(DEMO_ENTRY_ID, 32));
  const profileParams = (await call(emu, 'conversionProfileAssetParams', 'list', { ks, 'filter:conversionProfileIdEqual': 1003 })) as { objectType: string; objects: WireObject[] };
  t.is(profileParams.objectType, 'KalturaConversionProfileAssetParamsListResponse');
  t.deepEqual(profileParams.objects.map((o) => [o.assetParamsId, o.systemName, o.origin]), [[32, 'Source', 1], [36, 'Ingest_2', 1], [37, 'Ingest_3', 1]]);

  // The Node client numbers multirequest items from 0; `{1:result}` is the first executed.
  const multi = await kaltura.services.liveStream.get(DEMO_ENTRY_ID).add(kaltura.services.liveStream.get('0_nothere1')).execute(client);
  t.is((multi[0] as WireObject).objectType, 'KalturaLiveStreamEntry');
  asError(t, multi[1], 'ENTRY_ID_NOT_FOUND');

  const beacon = new kaltura.objects.Beacon({ relatedObjectType: '4', objectId: DEMO_ENTRY_ID, eventType: '0_healthData', privateData: '{"maxSeverity":4}' });
  t.is(await kaltura.services.beacon.add(beacon, 1).execute(client), true);
  t.like(emu.beacons[0], { partnerId: 102, relatedObjectType: '4', objectId: DEMO_ENTRY_ID, eventType: '0_healthData', privateData: '{"maxSeverity":4}', shouldLog: true });

  const token = await kaltura.services.uploadToken.add(new kaltura.objects.UploadToken({ fileName: 'seg.mp4' })).execute(client);
  t.is(token.objectType, 'KalturaUploadToken');
  await kaltura.services.uploadToken.upload(token.id as string, Buffer.from('first-'), false, false).execute(client);
  const done = await kaltura.services.uploadToken.upload(token.id as string, Buffer.from('second'), true, true, 6).execute(client);
  t.like(done, { status: 2, uploadedFileSize: 12 });
  t.is(emu.uploadedBytes(token.id as string)?.toString(), 'first-second');

  await kaltura.services.session.end().execute(client);
  const after = await kaltura.services.liveStream.get(DEMO_ENTRY_ID).execute(client).catch((e: unknown) => e);
  t.is(asError(t, after, 'INVALID_KS').message, 'Invalid KS "LOGOUT", Error "-1,INVALID_STR"');
});

test('JSON bodies are read only with Content-Type exactly application/json; with a charset the body is ignored', async (t) => {
  const emu = await emulator(t);
  const body = JSON.stringify({ entryId: DEMO_ENTRY_ID, ks: adminKs() });
  const url = `${emu.url}/api_v3/service/liveStream/action/get?format=1`;
  const post = async (contentType: string) => (await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body })).json();
  t.is(((await post('application/json')) as WireObject).objectType, 'KalturaLiveStreamEntry');
  t.is(((await post('Application/JSON')) as WireObject).objectType, 'KalturaLiveStreamEntry');
  const ignored = asError(t, await post('application/json; charset=utf-8'), 'MISSING_MANDATORY_PARAMETER');
  t.is(ignored.message, 'Missing parameter "entryId"');
  t.deepEqual(ignored.args, { PARAM_NAME: 'entryId' });

  // Nested objects: JSON objects and form `beacon:field` keys reach the action the same way.
  const nested = await fetch(`${emu.url}/api_v3/service/beacon_beacon/action/add?format=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ks: adminKs(), beacon: { objectType: 'KalturaBeacon', objectId: DEMO_ENTRY_ID, eventType: '1_healthData', relatedObjectType: '4', privateData: '[]' } }),
  });
  t.is(await nested.json(), true);
  t.is(await call(emu, 'beacon_beacon', 'add', { ks: adminKs(), 'beacon:objectType': 'KalturaBeacon', 'beacon:objectId': DEMO_ENTRY_ID, 'beacon:eventType': '0_healthData', 'beacon:relatedObjectType': '4' }), true);
  t.deepEqual(emu.beacons.map((b) => b.eventType), ['1_healthData', '0_healthData']);
  t.deepEqual(emu.beacons.map((b) => b.shouldLog), [false, false], 'shouldLog defaults to 0 (not logged)');
  // Real Kaltura serves the beacon plugin as beacon_beacon only.
  asError(t, await call(emu, 'beacon', 'add', { ks: adminKs() }), 'SERVICE_DOES_NOT_EXISTS');
});

test('XML (format=2 and the default) has Kaltura\'s shape for objects, errors and lists; services are case-insensitive; index.php form works', async (t) => {
  const emu = await emulator(t);
  const ks = encodeURIComponent(adminKs());
  const get = async (path: string) => {
    const res = await fetch(`${emu.url}${path}`);
    t.is(res.headers.get('content-type'), 'text/xml');
    return res.text();
  };
  const text = await get(`/api_v3/service/livestream/action/get?entryId=${DEMO_ENTRY_ID}&ks=${ks}`);
  t.regex(text, /^<\?xml version="1\.0" encoding="utf-8"\?><xml><result><objectType>KalturaLiveStreamEntry<\/objectType><id>0_demo1234<\/id>/);
  const doc = xml.parse(text) as { xml: { result: Record<string, string>; executionTime: string } };
  t.is(doc.xml.result.partnerId, '102');
  t.true(Number(doc.xml.executionTime) >= 0);

  const errText = await get(`/api_v3/index.php?service=LIVESTREAM&action=get&format=2&entryId=0_nothere1&ks=${ks}`);
  t.true(errText.includes('<result><error><code>ENTRY_ID_NOT_FOUND</code><message>Entry id &quot;0_nothere1&quot; not found</message><objectType>KalturaAPIException</objectType><args><item><objectType>KalturaApiExceptionArg</objectType><name>ENTRY_ID</name><value>0_nothere1</value></item></args></error></result>'), errText);
  const err = (xml.parse(errText) as { xml: { result: { error: { code: string; args: { item: Array<{ name: string; value: string }> } } } } }).xml.result.error;
  t.is(err.code, 'ENTRY_ID_NOT_FOUND');
  t.deepEqual(err.args.item, [{ objectType: 'KalturaApiExceptionArg', name: 'ENTRY_ID', value: '0_nothere1' }]);

  const list = await get(`/api_v3/service/flavorAsset/action/list/filter:entryIdEqual/${DEMO_PASSTHROUGH_ENTRY_ID}?ks=${ks}`);
  t.regex(list, /<result><objectType>KalturaFlavorAssetListResponse<\/objectType><objects><item><objectType>KalturaLiveAsset<\/objectType>.*<\/item><\/objects><totalCount>1<\/totalCount><\/result>/);
  t.regex(await get(`/api_v3/service/beacon_beacon/action/add?ks=${ks}&beacon[objectType]=KalturaBeacon&beacon[eventType]=x&beacon[objectId]=${DEMO_ENTRY_ID}&beacon[relatedObjectType]=4`), /<result>1<\/result>/);
  const unknown = await get(`/api_v3/service/nosuch/action/get?ks=${ks}`);
  t.true(unknown.includes('<code>SERVICE_DOES_NOT_EXISTS</code><message>Service &quot;nosuch&quot; does not exists</message>'));
});

test('multirequest: form keys and JSON, {N:result:path} references, failed items are exception objects', async (t) => {
  const emu = await emulator(t);
  const form = (await call(emu, 'multirequest', '', {
    ks: adminKs(),
    '1:service': 'liveStream',
    '1:action': 'get',
    '1:entryId': DEMO_ENTRY_ID,
    '2:service': 'flavorAsset',
    '2:action': 'list',
    '2:filter:entryIdEqual': '{1:result:id}',
    '3:service': 'liveStream',
    '3:action': 'authenticate',
    '3:entryId': '{2:result:objects:0:entryId}',
    '3:token': 'bad',
    '4:service': 'liveStream',
    '4:action': 'get',
    '4:entryId': '{3:result:id}',
  })) as unknown[];
  t.is(form.length, 4);
  t.is((form[0] as WireObject).id, DEMO_ENTRY_ID);
  t.is((form[1] as WireObject).totalCount, 5);
  asError(t, form[2], 'LIVE_STREAM_INVALID_TOKEN');
  // A reference to a failed item resolves to '' (Kaltura substitutes an empty string).
  t.deepEqual(asError(t, form[3], 'ENTRY_ID_NOT_FOUND').args, { ENTRY_ID: '' });
  t.deepEqual(emu.calls.map((c) => `${c.service}.${c.action}:${c.result}`), [
    'liveStream.get:OK',
    'flavorAsset.list:OK',
    'liveStream.authenticate:LIVE_STREAM_INVALID_TOKEN',
    'liveStream.get:ENTRY_ID_NOT_FOUND',
  ]);

  const res = await fetch(`${emu.url}/api_v3/service/multirequest?format=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      ks: mediaServerKs(),
      1: { service: 'livestream', action: 'get', entryId: DEMO_MBR_ENTRY_ID },
      2: { service: 'livestream', action: 'authenticate', entryId: '{1:result:id}', token: DEMO_ENTRY_TOKEN, partnerId: '{1:result:partnerId}' },
    }),
  });
  const json = (await res.json()) as WireObject[];
  t.deepEqual(json.map((r) => r.objectType), ['KalturaLiveStreamEntry', 'KalturaLiveStreamEntry']);
  t.deepEqual(emu.calls.slice(-2).map((c) => c.partnerId), [-5, 102]);

  const xmlText = await (await fetch(`${emu.url}/api_v3/index.php?service=multirequest&1:service=system&1:action=ping&2:service=liveStream&2:action=get&2:entryId=x`)).text();
  t.regex(xmlText, /<result><item>1<\/item><item><error><code>MISSING_KS<\/code>/);
});

test('INVALID_KS for expired, tampered, foreign-signed and unknown-partner KS, with Kaltura\'s message', async (t) => {
  const emu = await emulator(t);
  const get = (ks: string) => call(emu, 'liveStream', 'get', { entryId: DEMO_ENTRY_ID, ks });
  for (const expired of [adminKs({ expiresIn: -10 }), ksV1({ partnerId: 102, secret: DEMO_ADMIN_SECRET, expiresIn: -10 })]) {
    const e = asError(t, await get(expired), 'INVALID_KS');
    t.is(e.message, 'Invalid KS "EXPIRED", Error "-1,INVALID_STR"');
    t.deepEqual(e.args, { KSID: 'EXPIRED', ERR_CODE: '-1', ERR_DESC: 'INVALID_STR' });
  }
  const good = ksV1({ partnerId: 102, secret: DEMO_ADMIN_SECRET });
  const decoded = Buffer.from(good, 'base64').toString();
  const tampered = Buffer.from(decoded.replace(';MediaServer;', ';Someone;')).toString('base64');
  const v2 = adminKs();
  const flipped = v2.slice(0, 20) + (v2[20] === 'A' ? 'B' : 'A') + v2.slice(21);
  const foreign = ksV2({ partnerId: 102, secret: MEDIA_SERVER_ADMIN_SECRET });
  const unknownPartner = ksV2({ partnerId: 999, secret: DEMO_ADMIN_SECRET });
  for (const bad of [tampered, flipped, foreign, unknownPartner, 'not a ks!']) {
    const e = asError(t, await get(bad), 'INVALID_KS');
    t.is(e.message, `Invalid KS "${bad}", Error "-1,INVALID_STR"`);
  }
  // A bad KS is refused before the arguments are even read; an expired one after.
  asError(t, await call(emu, 'liveStream', 'get', { ks: foreign }), 'INVALID_KS');
  asError(t, await call(emu, 'liveStream', 'get', { ks: adminKs({ expiresIn: -1 }) }), 'MISSING_MANDATORY_PARAMETER');
  asError(t, await call(emu, 'liveStream', 'get', { entryId: DEMO_ENTRY_ID }), 'MISSING_KS');

  // The DESIGN's admin KS shape (v2, privileges with a session key) parses back intact.
  const parsed = parseKs(adminKs({ privileges: 'disableentitlement,sessionkey:k1' }), (pid) => (pid === 102 ? [DEMO_ADMIN_SECRET] : undefined));
  t.true(parsed.ok);
  if (parsed.ok) t.like(parsed.session, { version: 2, partnerId: 102, type: 2, user: 'MediaServer', privileges: 'disableentitlement,sessionkey:k1' });
  t.false(parseKs(foreign, (pid) => (pid === 102 ? [DEMO_ADMIN_SECRET] : undefined)).ok);
});

test('impersonation: partner -5 may act for any partner, others may not; the partner filter hides other partners\' entries', async (t) => {
  const emu = await emulator(t);
  const asMs = await call(emu, 'liveStream', 'get', { ks: mediaServerKs(), entryId: '1_other001' });
  t.is((asMs as WireObject).partnerId, 103);
  const impersonated = await call(emu, 'liveStream', 'authenticate', { ks: mediaServerKs(), partnerId: 102, entryId: DEMO_ENTRY_ID, token: DEMO_ENTRY_TOKEN });
  t.is((impersonated as WireObject).objectType, 'KalturaLiveStreamEntry');
  t.is(emu.calls.at(-1)?.partnerId, 102);
  // Impersonating 103 hides 102's entry.
  asError(t, await call(emu, 'liveStream', 'authenticate', { ks: mediaServerKs(), partnerId: 103, entryId: DEMO_ENTRY_ID, token: DEMO_ENTRY_TOKEN }), 'ENTRY_ID_NOT_FOUND');
  asError(t, await call(emu, 'liveStream', 'authenticate', { ks: adminKs(), entryId: '1_other001', token: 'othertoken' }), 'ENTRY_ID_NOT_FOUND');

  const forbidden = asError(t, await call(emu, 'liveStream', 'get', { ks: adminKs(), partnerId: 103, entryId: '1_other001' }), 'SERVICE_FORBIDDEN');
  t.is(forbidden.message, 'The access to service [livestream->get] is forbidden');
  asError(t, await call(emu, 'liveStream', 'get', { ks: adminKs(), partnerId: -5, entryId: DEMO_ENTRY_ID }), 'SERVICE_FORBIDDEN');
  // Partner 0 with a partner KS means "no impersonation".
  t.is(((await call(emu, 'liveStream', 'get', { ks: adminKs(), partnerId: 0, entryId: DEMO_ENTRY_ID })) as WireObject).id, DEMO_ENTRY_ID);
  asError(t, await call(emu, 'liveStream', 'get', { ks: mediaServerKs(), partnerId: 4242, entryId: DEMO_ENTRY_ID }), 'SERVICE_FORBIDDEN_CONTENT_BLOCKED');
  // A user KS cannot authenticate streams.
  asError(t, await call(emu, 'liveStream', 'get', { ks: adminKs({ type: 0 }), entryId: DEMO_ENTRY_ID }), 'SERVICE_FORBIDDEN');
  // No KS, partner given: forbidden, not MISSING_KS.
  asError(t, await call(emu, 'liveStream', 'get', { partnerId: 102, entryId: DEMO_ENTRY_ID }), 'SERVICE_FORBIDDEN');
});

test('wowza_liveConversionProfile.serve: passthrough, transcoded ladder and multi-bitrate ingest templates', async (t) => {
  const emu = await emulator(t);

  const pass = await template(t, emu, `${DEMO_PASSTHROUGH_ENTRY_ID}_1`, { audiocodecidstring: 'AAC', width: 1280, height: 720 });
  t.deepEqual(pass.Encodes.Encode, [
    { Enable: 'true', Name: 'Source', StreamName: `${DEMO_PASSTHROUGH_ENTRY_ID}_32`, Video: { Codec: 'PassThru' }, Audio: { Codec: 'PassThru' } },
  ]);
  t.deepEqual(pass.Decode, { Video: { Deinterlace: 'false' } });
  t.deepEqual(pass.StreamNameGroups, {
    StreamNameGroup: [{ Name: 'all', StreamName: '${SourceStreamName}_all', Members: { Member: [{ EncodeName: 'Source' }] } }],
  });
  t.is(pass.Properties, '');

  // A 640x360 source at 900 kbps: the optional 720p/480p flavors are skipped, 360p and audio stay.
  const small = await template(t, emu, `${DEMO_ENTRY_ID}_1`, { width: 640, height: 360, framerate: 30, videodatarate: 900, audiocodecidstring: 'MP3' });
  const names = small.Encodes.Encode?.map((e) => e.Name);
  t.deepEqual(names, ['Source', 'SD_360', 'Audio_only']);
  const [source, sd360, audio] = small.Encodes.Encode ?? [];
  t.deepEqual(source.Audio, { Codec: 'AAC', Bitrate: '96000' }, 'non-AAC source audio is transcoded');
  t.like(sd360.Video, { Codec: 'H.264', Transcoder: 'default', GPUID: '-1', Profile: 'baseline', Bitrate: '600000', FrameSize: { FitMode: 'fit-height', Width: '640', Height: '360' }, KeyFrameInterval: { FollowSource: 'true', Interval: '60' } });
  t.deepEqual(sd360.Audio, { Codec: 'AAC', Bitrate: '64000' });
  t.is(sd360.StreamName, `${DEMO_ENTRY_ID}_44`);
  t.is(audio.Video.Codec, 'Disable');
  const groups = small.StreamNameGroups as { StreamNameGroup: Array<{ Members: { Member: Array<{ EncodeName: string }> } }> };
  t.deepEqual(groups.StreamNameGroup[0].Members.Member.map((m) => m.EncodeName), names);

  // A 1080p source at 6 Mbps gets the whole ladder; the 720p flavor asks for constant bitrate.
  const big = await template(t, emu, `${DEMO_ENTRY_ID}_1`, { width: 1920, height: 1080, framerate: 30, videodatarate: 6000, audiocodecidstring: 'AAC' });
  t.deepEqual(big.Encodes.Encode?.map((e) => e.Name), ['Source', 'HD_720', 'SD_480', 'SD_360', 'Audio_only']);
  const hd = big.Encodes.Encode?.[1];
  t.like(hd?.Video, { Codec: 'H.264', Profile: 'main', Bitrate: '2500000', Parameters: { Parameter: { Name: 'mainconcept.bit_rate_mode', Value: '0', Type: 'Long' } } });
  t.deepEqual(big.Encodes.Encode?.[0].Audio, { Codec: 'PassThru' });

  // Multi-bitrate ingest: `_1` is the source alone (the other ingests are not transcoded),
  // `_2` yields only its own pass-through.
  const mbr1 = await template(t, emu, `${DEMO_MBR_ENTRY_ID}_1`);
  t.deepEqual(mbr1.Encodes.Encode?.map((e) => e.Name), ['Source']);
  const mbr2 = await template(t, emu, `${DEMO_MBR_ENTRY_ID}_2`, { audiocodecidstring: 'AAC' });
  t.deepEqual(mbr2.Encodes.Encode, [
    { Enable: 'true', Name: 'Ingest_2', StreamName: `${DEMO_MBR_ENTRY_ID}_36`, Video: { Codec: 'PassThru' }, Audio: { Codec: 'PassThru' } },
  ]);

  // GPU hint adds the NVCUVID decoder and CUDA scaler; a registered node supplies transcoder/GPUID.
  emu.registerServerNode('gpu1.example', { transcoder: 'nvidia', GPUID: 0 });
  const gpu = await template(t, emu, `${DEMO_ENTRY_ID}_1`, { width: 640, height: 360, gpu: 'true' });
  t.deepEqual(gpu.Decode, { Video: { Deinterlace: 'false', Implementation: 'NVCUVID' } } as unknown as typeof gpu.Decode);
  const gpuNode = await (await serve(emu, `${DEMO_ENTRY_ID}_1`, { width: 640, height: 360 }, '&hostname=gpu1.example')).text();
  t.regex(gpuNode, /<Transcoder>nvidia<\/Transcoder>\n\s+<GPUID>0<\/GPUID>/);

  // Errors inside a file action: empty body, X-Kaltura headers (kRendererDieError).
  for (const [name, code] of [['0_demo1234_9', 'INGEST_NOT_FOUND_IN_CONVERSION_PROFILE'], ['bogus', 'INVALID_STREAM_NAME'], ['0_nothere1_1', 'ENTRY_ID_NOT_FOUND']]) {
    const res = await serve(emu, name);
    t.is(await res.text(), '');
    t.is(res.headers.get('x-kaltura'), `error- ${code}`);
  }
  t.is(emu.callsOf('wowza_liveconversionprofile', 'serve').at(-1)?.result, 'ENTRY_ID_NOT_FOUND');
});

test('uploadToken.upload: chunked resume with resumeAt, out-of-order chunks, size check, status rules (multipart)', async (t) => {
  const emu = await emulator(t);
  const ks = adminKs();
  const token = (await call(emu, 'uploadToken', 'add', { ks, 'uploadToken:fileName': 'rec.mp4' })) as WireObject;
  t.like(token, { objectType: 'KalturaUploadToken', status: 0, fileName: 'rec.mp4' });
  const id = token.id as string;
  const upload = async (data: string, fields: Record<string, string>) => {
    const form = new FormData();
    for (const [k, v] of Object.entries({ format: '1', ks, uploadTokenId: id, ...fields })) form.set(k, v);
    form.set('fileData', new Blob([data]), 'chunk');
    return (await fetch(`${emu.url}/api_v3/service/uploadToken/action/upload`, { method: 'POST', body: form })).json();
  };
  asError(t, await upload('abc', { resume: '1', finalChunk: '0', resumeAt: '0' }), 'UPLOAD_TOKEN_CANNOT_RESUME');
  t.like(await upload('0123', { resume: '0', finalChunk: '0' }), { status: 1, uploadedFileSize: 4 });
  // A chunk beyond the end waits for the gap…
  t.like(await upload('89', { resume: '1', finalChunk: '0', resumeAt: '8' }), { status: 1, uploadedFileSize: 4 });
  // …which this one fills (and it overlaps the already-received '3').
  t.like(await upload('34567', { resume: '1', finalChunk: '0', resumeAt: '3' }), { status: 1, uploadedFileSize: 10 });
  // A final chunk must end the file at resumeAt + its size.
  asError(t, await upload('XY', { resume: '1', finalChunk: '1', resumeAt: '20' }), 'UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE');
  const final = await upload('ab', { resume: '1', finalChunk: '1', resumeAt: '10' });
  t.like(final, { status: 2, uploadedFileSize: 12 });
  t.is(emu.uploadedBytes(id)?.toString(), '0123456789ab');
  asError(t, await upload('more', { resume: '1', finalChunk: '1' }), 'UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD');
  asError(t, await call(emu, 'uploadToken', 'upload', { ks, uploadTokenId: id }), 'MISSING_MANDATORY_PARAMETER');
  asError(t, await call(emu, 'uploadToken', 'get', { ks: ksV2({ partnerId: 103, secret: 'other-admin-secret' }), uploadTokenId: id }), 'UPLOAD_TOKEN_NOT_FOUND');
  const log = JSON.stringify(emu.callsOf('uploadToken', 'upload'));
  t.true(log.includes('"fileData":{"file":"chunk","size":2}'));
});

test('the call log records every call with service, action, effective partner and result, and never the KS', async (t) => {
  const emu = await emulator(t);
  const ks = mediaServerKs();
  await call(emu, 'liveStream', 'get', { ks, entryId: DEMO_ENTRY_ID, partnerId: 102 });
  await fetch(`${emu.url}/api_v3/service/multirequest?format=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ks, 0: { service: 'liveStream', action: 'get', entryId: 'nope' }, 1: { service: 'session', action: 'start', secret: DEMO_ADMIN_SECRET, partnerId: 102, type: 2 } }),
  });
  t.is(emu.calls.length, 3);
  t.like(emu.calls[0], { service: 'liveStream', action: 'get', partnerId: 102, result: 'OK' });
  t.like(emu.calls[0].params, { entryId: DEMO_ENTRY_ID, ks: '[redacted]', partnerId: '102' });
  t.like(emu.calls[1], { partnerId: -5, result: 'ENTRY_ID_NOT_FOUND' });
  t.like(emu.calls[2], { service: 'session', action: 'start', result: 'OK' });
  const log = JSON.stringify(emu.calls);
  t.false(log.includes(ks));
  t.false(log.includes(DEMO_ADMIN_SECRET));
  t.true(emu.calls.every((c) => typeof c.time === 'number' && c.time <= Date.now()));
});

test('media servers: reportStatus registers and heartbeats, authenticate requires a node when switched on, markOffline', async (t) => {
  const emu = await emulator(t);
  const ks = mediaServerKs();
  emu.setRequireRegisteredMediaServer(true);
  const auth = () => call(emu, 'liveStream', 'authenticate', { ks, partnerId: 102, entryId: DEMO_ENTRY_ID, token: DEMO_ENTRY_TOKEN, hostname: 'edge1', mediaServerIndex: 0 });
  t.is(asError(t, await auth(), 'MEDIA_SERVER_NOT_FOUND').message, 'Media server [edge1] not found');
  asError(t, await call(emu, 'serverNode', 'reportStatus', { ks, hostName: 'edge1' }), 'SERVER_NODE_NOT_FOUND');
  const node = (await call(emu, 'serverNode', 'reportStatus', {
    ks,
    hostName: 'edge1',
    'serverNode:objectType': 'KalturaWowzaMediaServerNode',
    'serverNode:name': 'edge1',
    'serverNode:environment': 'dev',
    serverNodeStatus: 5,
  })) as WireObject;
  t.like(node, { objectType: 'KalturaWowzaMediaServerNode', hostName: 'edge1', status: 1, partnerId: -5, environment: 'dev' });
  t.is((await auth() as WireObject).objectType, 'KalturaLiveStreamEntry');
  const again = (await call(emu, 'serverNode', 'reportStatus', { ks, hostName: 'edge1' })) as WireObject;
  t.is(again.id, node.id);
  t.like(await call(emu, 'serverNode', 'markOffline', { ks, serverNodeId: node.id as number }), { status: 4 });
  asError(t, await call(emu, 'serverNode', 'markOffline', { ks, serverNodeId: node.id as number }), 'INVALID_OBJECT_ID');
  t.deepEqual(emu.serverNodes().map((n) => [n.hostName, n.status]), [['edge1', 4]]);
});

test('permission.get, liveStream.appendRecording and media.cancelReplace', async (t) => {
  const f = withOtherPartner();
  f.partners[0].permissions.push('FEATURE_LIVE_STREAM_KALTURA_RECORDING');
  const emu = await emulator(t, f);
  const ks = mediaServerKs();
  t.like(await call(emu, 'permission', 'get', { ks, partnerId: 102, permissionName: 'FEATURE_LIVE_STREAM_KALTURA_RECORDING' }), { objectType: 'KalturaPermission', status: 1, partnerId: 102 });
  const missing = asError(t, await call(emu, 'permission', 'get', { ks, partnerId: 103, permissionName: 'FEATURE_LIVE_STREAM_KALTURA_RECORDING' }), 'INVALID_OBJECT_ID');
  t.is(missing.message, 'Invalid object id [FEATURE_LIVE_STREAM_KALTURA_RECORDING]');

  // Kaltura reads the file it is given: the path must exist.
  const segment = join(tempDir('append'), 'seg1.mp4');
  writeFileSync(segment, 'segment bytes');
  const resource = { 'resource:objectType': 'KalturaServerFileResource', 'resource:localFilePath': segment };
  const asset = liveAssetId('1_other001', 32);
  asError(t, await call(emu, 'liveStream', 'appendRecording', { ks, partnerId: 102, entryId: DEMO_ENTRY_ID, assetId: liveAssetId(DEMO_ENTRY_ID, 32), mediaServerIndex: 0, duration: 900, ...resource }), 'KALTURA_RECORDING_ENABLED');
  asError(t, await call(emu, 'liveStream', 'appendRecording', { ks, partnerId: 103, entryId: '1_other001', assetId: 'bad', mediaServerIndex: 0, duration: 900, ...resource }), 'ASSET_ID_NOT_FOUND');
  const appended = (await call(emu, 'liveStream', 'appendRecording', { ks, partnerId: 103, entryId: '1_other001', assetId: asset, mediaServerIndex: 0, duration: 900.5, isLastChunk: 'false', ...resource })) as WireObject;
  t.is(appended.objectType, 'KalturaLiveStreamEntry');
  t.regex(String(appended.recordedEntryId), /^0_[0-9a-z]{8}$/);
  t.like(emu.recordings[0], { entryId: '1_other001', assetId: asset, duration: 900.5, isLastChunk: false, resource: { objectType: 'KalturaServerFileResource', localFilePath: segment } });
  t.like(emu.receivedRecordings('1_other001', asset)[0], { n: 1, size: 13, duration: 900.5, isLastChunk: false, localFilePath: segment });
  asError(t, await call(emu, 'liveStream', 'appendRecording', { ks, partnerId: 103, entryId: '1_other001', assetId: asset, mediaServerIndex: 0, duration: 1, 'resource:objectType': 'KalturaServerFileResource', 'resource:localFilePath': `${segment}.missing` }), 'LOCAL_FILE_NOT_FOUND');
  t.like(await call(emu, 'media', 'cancelReplace', { ks, partnerId: 103, entryId: String(appended.recordedEntryId) }), { objectType: 'KalturaMediaEntry', replacementStatus: 0 });
  asError(t, await call(emu, 'media', 'cancelReplace', { ks, partnerId: 102, entryId: String(appended.recordedEntryId) }), 'ENTRY_ID_NOT_FOUND');
});

test('appendRecording: LOCAL_FILE_NOT_FOUND names a missing file; LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION past the fixtures\' max, then for good', async (t) => {
  const f = withOtherPartner();
  f.maxRecordingDurationMs = 2500;
  const emu = await emulator(t, f);
  const ks = mediaServerKs();
  const dir = tempDir('append');
  const segment = join(dir, 'seg.mp4');
  writeFileSync(segment, 'segment bytes');
  const asset = liveAssetId('1_other001', 32);
  const append = (duration: number, path = segment) =>
    call(emu, 'liveStream', 'appendRecording', { ks, partnerId: 103, entryId: '1_other001', assetId: asset, mediaServerIndex: 0, duration, 'resource:objectType': 'KalturaServerFileResource', 'resource:localFilePath': path });
  const gone = asError(t, await append(1, join(dir, 'gone.mp4')), 'LOCAL_FILE_NOT_FOUND');
  t.is(gone.message, `Local file was not found "${join(dir, 'gone.mp4')}"`);
  t.deepEqual(gone.args, { FILE: join(dir, 'gone.mp4') });
  t.like(await append(1.5), { objectType: 'KalturaLiveStreamEntry' });
  t.like(await append(1), { objectType: 'KalturaLiveStreamEntry' }, '2500 ms: at the max, not past it');
  const over = asError(t, await append(0.001), 'LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION');
  t.is(over.message, 'Entry exceeded max recorded live stream duration in entry[1_other001]');
  // LiveEntry::getCurrentDuration: once reached, the recorded entry refuses every chunk, even an empty one.
  asError(t, await append(0), 'LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION');
  t.is(emu.receivedRecordings('1_other001', asset).length, 2);
});

test('Kaltura down and slow: setDown resets or hangs connections, setLatency delays answers', async (t) => {
  const emu = await emulator(t);
  const ping = (timeoutMs = 10_000) => fetch(`${emu.url}/api_v3/service/system/action/ping?format=1`, { signal: AbortSignal.timeout(timeoutMs) }).then((r) => r.json());
  t.is(await ping(), true);
  emu.setDown(true);
  await t.throwsAsync(ping());
  emu.setDown(true, 'hang');
  const hung = await ping(300).then(
    () => 'answered',
    (e: Error) => e.name,
  );
  t.is(hung, 'TimeoutError');
  emu.setDown(false);
  t.is(await ping(), true);
  emu.setLatency(150);
  const started = Date.now();
  t.is(await ping(), true);
  t.true(Date.now() - started >= 140);
});

test('loadFixtures validates a fixtures file and names the file and key of any problem; entries can be added and updated', async (t) => {
  const dir = tempDir('fixtures');
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify(demoFixtures()));
  t.deepEqual(loadFixtures(good), demoFixtures());
  // The shipped example file stays in sync with demoFixtures().
  t.deepEqual(loadFixtures(join(__dirname, '..', 'src', 'dev', 'fixtures.example.json')), demoFixtures());

  const broken = demoFixtures() as unknown as { entries: Array<Record<string, unknown>>; conversionProfiles: Array<Record<string, unknown>> };
  broken.entries[1].token = 42;
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify(broken));
  const e1 = t.throws(() => loadFixtures(bad), { instanceOf: EmulatorError });
  t.is(e1?.code, 'FIXTURES_INVALID');
  t.is(e1?.message, `${bad}: entries[1].token: must be a string`);

  const dangling = demoFixtures();
  dangling.conversionProfiles[0].flavorParamsIds.push(999);
  writeFileSync(bad, JSON.stringify(dangling));
  t.is(t.throws(() => loadFixtures(bad))?.message, `${bad}: conversionProfiles[0].flavorParamsIds[1]: flavor params 999 is not in flavorParams`);
  const badId = demoFixtures();
  badId.entries[0].id = '0_DEMO';
  writeFileSync(bad, JSON.stringify(badId));
  t.regex(t.throws(() => loadFixtures(bad))?.message ?? '', /entries\[0\]\.id: "0_DEMO" does not match/);
  writeFileSync(bad, '{ nope');
  t.regex(t.throws(() => loadFixtures(bad))?.message ?? '', /bad\.json: not valid JSON/);
  t.is(t.throws(() => loadFixtures(join(dir, 'missing.json')), { instanceOf: EmulatorError })?.code, 'FIXTURES_UNREADABLE');

  const emu = await emulator(t);
  emu.addEntry({ id: '0_added001', partnerId: 102, name: 'Added', token: 'tok', conversionProfileId: 1001, recordStatus: 1, dvrStatus: 0, dvrWindow: 0, segmentDuration: 2000 });
  t.is(((await call(emu, 'liveStream', 'get', { ks: adminKs(), entryId: '0_added001' })) as WireObject).recordStatus, 1);
  emu.updateEntry('0_added001', { token: 'newtok', dvrStatus: 1 });
  t.like(await call(emu, 'liveStream', 'authenticate', { ks: adminKs(), entryId: '0_added001', token: 'newtok' }), { dvrStatus: 1 });
  t.is(t.throws(() => emu.updateEntry('0_missing1', {}), { instanceOf: EmulatorError })?.code, 'ENTRY_NOT_FOUND');
  t.is(t.throws(() => emu.addEntry({ ...emu.getEntry('0_added001')!, name: 'dup' }), { instanceOf: EmulatorError })?.code, 'ENTRY_EXISTS');
});

test('beacon.add is validated as KalturaBeacon::validateForInsert and the enum deserializer do', async (t) => {
  const emu = await emulator(t);
  const add = (beacon: Record<string, string>) =>
    call(emu, 'beacon_beacon', 'add', { ks: adminKs(), 'beacon:objectType': 'KalturaBeacon', ...Object.fromEntries(Object.entries(beacon).map(([k, v]) => [`beacon:${k}`, v])) });
  const full = { objectId: DEMO_ENTRY_ID, eventType: '0_healthData', relatedObjectType: '4' };
  for (const missing of ['eventType', 'objectId', 'relatedObjectType'] as const) {
    const { [missing]: _, ...rest } = full;
    const e = asError(t, await add(rest), 'PROPERTY_VALIDATION_CANNOT_BE_NULL');
    t.is(e.message, `The property "KalturaBeacon::${missing}" cannot be null`);
  }
  const bad = asError(t, await add({ ...full, relatedObjectType: '9' }), 'INVALID_ENUM_VALUE');
  t.is(bad.message, 'Invalid enumeration value "9" for parameter "relatedObjectType", expecting enumeration type "KalturaBeaconObjectTypes"');
  t.is(emu.beacons.length, 0, 'nothing recorded for a refused beacon');
  // A schedule-resource beacon ('1') is valid to Kaltura, just not shown by KMC: recorded as sent.
  t.is(await call(emu, 'beacon_beacon', 'add', { ks: adminKs(), shouldLog: 1, 'beacon:objectType': 'KalturaBeacon', 'beacon:objectId': DEMO_ENTRY_ID, 'beacon:eventType': '0_healthData', 'beacon:relatedObjectType': '1' }), true);
  t.like(emu.beacons[0], { relatedObjectType: '1', shouldLog: true });
});
