/**
 * KS generation checked against an independent decoder written here (node:crypto only, not
 * ks.ts internals) and against vectors produced outside Node, plus the admin KS lifecycle.
 */
import test from 'ava';
import { createDecipheriv, createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { AdminSession, PERMANENT_SESSION_KEY, type RenewedEvent } from '../src/kaltura/admin-session';
import { KsError } from '../src/kaltura/errors';
import { decodeKs, describeKs, generateKs, verifyKs } from '../src/kaltura/ks';
import { SessionType } from '../src/kaltura/types';

// ---------------------------------------------------------------------------------------------
// Independent reference decoder (follows kaltura/server kSessionBase::parseKsV1 / parseKsV2).

interface RefKs {
  version: 1 | 2;
  partnerId: number;
  expiry: number;
  type: number;
  user: string;
  /** privilege name → value ('' when none) */
  privileges: Map<string, string>;
  rand: string;
}

function refDecode(ks: string, secret: string): RefKs {
  const raw = Buffer.from(ks.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (raw.subarray(0, 3).toString('latin1') === 'v2|') {
    const end = raw.indexOf('|', 3, 'latin1');
    if (end < 0) throw new Error('no partner separator');
    const partnerId = Number(raw.subarray(3, end).toString('latin1'));
    const key = createHash('sha1').update(secret, 'utf8').digest().subarray(0, 16);
    const d = createDecipheriv('aes-128-cbc', key, Buffer.alloc(16));
    d.setAutoPadding(false);
    let plain = Buffer.concat([d.update(raw.subarray(end + 1)), d.final()]);
    while (plain.length > 0 && plain[plain.length - 1] === 0) plain = plain.subarray(0, plain.length - 1);
    const hash = plain.subarray(0, 20);
    const rest = plain.subarray(20);
    if (!createHash('sha1').update(rest).digest().equals(hash)) throw new Error('signature mismatch');
    // URLSearchParams decodes like PHP parse_str for these keys ('+' is a space).
    const q = new URLSearchParams(rest.subarray(16).toString('utf8'));
    const privileges = new Map<string, string>();
    for (const [k, v] of q) if (!k.startsWith('_')) privileges.set(k, v);
    return {
      version: 2,
      partnerId,
      expiry: Number(q.get('_e')),
      type: Number(q.get('_t')),
      user: q.get('_u') ?? '',
      privileges,
      rand: rest.subarray(0, 16).toString('hex'),
    };
  }
  const text = raw.toString('utf8');
  const bar = text.indexOf('|');
  if (bar < 0) throw new Error('no separator');
  const sig = text.slice(0, bar);
  const info = text.slice(bar + 1);
  if (createHash('sha1').update(secret + info, 'utf8').digest('hex') !== sig) throw new Error('signature mismatch');
  const [pid, , expiry, type, rand, user, privs] = info.split(';');
  const privileges = new Map<string, string>();
  for (const p of (privs ?? '').split(',').filter(Boolean)) {
    const i = p.indexOf(':');
    privileges.set(i < 0 ? p : p.slice(0, i), i < 0 ? '' : p.slice(i + 1));
  }
  return { version: 1, partnerId: Number(pid), expiry: Number(expiry), type: Number(type), user: user ?? '', privileges, rand: rand ?? '' };
}

// ---------------------------------------------------------------------------------------------
// Fixed inputs and vectors.

const SECRET = 'ab3c7a01f2e34b5d9f00c1d2e3f4a5b6';
const NOW = 1700000000;
const PRIVS = `disableentitlement,sessionkey:${PERMANENT_SESSION_KEY}`;
const RANDOM = Buffer.from([...Array(16).keys()]); // 00 01 … 0f
const base = { secret: SECRET, partnerId: 102, type: SessionType.Admin, userId: 'MediaServer', expirySeconds: 86400, privileges: PRIVS, now: NOW, random: RANDOM };

/*
 * Produced once with Python 3 (hashlib + the `cryptography` package), following Kaltura's
 * Python client generateSession / generateSessionV2 with the time and random fixed:
 *   secret='ab3c7a01f2e34b5d9f00c1d2e3f4a5b6'; pid=102; typ=2; user='MediaServer'
 *   expiry=1700000000+86400; priv='disableentitlement,sessionkey:kalturaWowzaPermanentSessionKey'
 *   rnd=bytes(range(16))
 *   v1: info=';'.join(map(str,[pid,pid,expiry,typ,int.from_bytes(rnd[:2],'big'),user,priv])).encode()
 *       base64.b64encode(hashlib.sha1(secret.encode()+info).hexdigest().encode()+b'|'+info)
 *   v2: fields={'disableentitlement':'','sessionkey':'kalturaWowzaPermanentSessionKey',
 *               '_e':str(expiry),'_t':'2','_u':user}
 *       body=rnd+urllib.parse.urlencode(fields).encode(); plain=sha1(body).digest()+body
 *       plain+=b'\0'*(-len(plain)%16)
 *       ct=Cipher(algorithms.AES(sha1(secret.encode()).digest()[:16]),modes.CBC(b'\0'*16)).encryptor()
 *       base64.urlsafe_b64encode(b'v2|102|'+ct.update(plain)+ct.finalize())
 */
const VECTOR_V1 =
  'NzBkM2ZlMWViYjYwYzEwYmI3MzNhMTNkMmQ1MWRiY2I3MDA5YTkxMXwxMDI7MTAyOzE3MDAwODY0MDA7MjsxO01lZGlhU2VydmVyO2Rpc2FibGVlbnRpdGxlbWVudCxzZXNzaW9ua2V5OmthbHR1cmFXb3d6YVBlcm1hbmVudFNlc3Npb25LZXk=';
const VECTOR_V2 =
  'djJ8MTAyfHVHNmUlta7Sr8vN8LNXyUwlnDXlv25GBg4oH7PazpSpQDhnyzjPvJ_GIovenPqDxSxzykioHaD-rwuSxvN3LEpdrpMhc5aEvvEMdtyVAC30aZ-L5ZEMEVdQoqUZCT_zkva3EaAo4wlSGygburQH6fLtrqgWUMmq0M5lMJSCUksJDl4rBcFOZEgxCufDYN0XTA==';
/*
 * Same script with pid=-5, typ=0, user='ops team+1@example.com', expiry=1700000000+600,
 * priv='*' (sent as all=* by the clients), rnd=bytes(range(0xf0,0x100)): exercises
 * form-encoding of spaces, '+', '@' and '*', and a negative partner id.
 */
const VECTOR2 = { partnerId: -5, type: SessionType.User, userId: 'ops team+1@example.com', expirySeconds: 600, privileges: '*', random: Buffer.from([...Array(16).keys()].map((i) => 0xf0 + i)) };
const VECTOR2_V1 = 'ZjMxMWFiZTUwNTg3YTdlZjhjZjU2OWU3ZDM5ZTMyNTNkYmU5ZmQxYXwtNTstNTsxNzAwMDAwNjAwOzA7NjE2ODE7b3BzIHRlYW0rMUBleGFtcGxlLmNvbTsq';
const VECTOR2_V2 =
  'djJ8LTV8qcQNApvnZvXDTVLP_uG-bEeu3h1LUNtLqWkDtqwtiP07zMF9g3Q7RfvN7JDLx4P9d0GSOLnCiZwnXaFpI1CqvkcPy-cJCuwg5GHDAk3WREzVtclWE7v1bDaROF5gM6Lb';

function flipByte(ks: string, index: number, urlSafe: boolean): string {
  const raw = Buffer.from(ks.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  raw[index] ^= 0x01;
  const b64 = raw.toString('base64');
  return urlSafe ? b64.replace(/\+/g, '-').replace(/\//g, '_') : b64;
}

// ---------------------------------------------------------------------------------------------
// Generation

test('v2 with fixed time and random equals the externally produced vector', (t) => {
  t.is(generateKs(base), VECTOR_V2);
  t.is(generateKs({ ...base, version: 2 }), VECTOR_V2);
  t.is(generateKs({ ...base, ...VECTOR2 }), VECTOR2_V2);
});

test('v1 with fixed time and random equals the externally produced vector', (t) => {
  t.is(generateKs({ ...base, version: 1 }), VECTOR_V1);
  t.is(generateKs({ ...base, ...VECTOR2, version: 1 }), VECTOR2_V1);
});

test('v2 decodes with the reference decoder: signature, partner, expiry, type, user, privileges', (t) => {
  const ks = generateKs({ ...base, random: undefined, now: undefined });
  t.true(ks.startsWith('djJ8MTAyf'), 'base64 of "v2|102|"');
  t.regex(ks, /^[A-Za-z0-9_-]+=*$/, 'URL-safe alphabet, padding kept');
  const ref = refDecode(ks, SECRET);
  const now = Math.floor(Date.now() / 1000);
  t.is(ref.version, 2);
  t.is(ref.partnerId, 102);
  t.true(Math.abs(ref.expiry - (now + 86400)) <= 2);
  t.is(ref.type, 2);
  t.is(ref.user, 'MediaServer');
  t.deepEqual([...ref.privileges], [['disableentitlement', ''], ['sessionkey', PERMANENT_SESSION_KEY]]);
  t.regex(ref.rand, /^[0-9a-f]{32}$/);
  const ref2 = refDecode(VECTOR2_V2, SECRET);
  t.is(ref2.user, 'ops team+1@example.com');
  t.deepEqual([...ref2.privileges], [['all', '*']]);
  t.is(ref2.partnerId, -5);
});

test('v1 decodes with the reference decoder', (t) => {
  const ref = refDecode(generateKs({ ...base, version: 1 }), SECRET);
  t.deepEqual(
    { v: ref.version, p: ref.partnerId, e: ref.expiry, t: ref.type, u: ref.user, r: ref.rand },
    { v: 1, p: 102, e: NOW + 86400, t: 2, u: 'MediaServer', r: '1' },
  );
  t.deepEqual([...ref.privileges], [['disableentitlement', ''], ['sessionkey', PERMANENT_SESSION_KEY]]);
});

test('fresh randomness gives a different KS each time; default version is 2', (t) => {
  const a = generateKs({ ...base, random: undefined });
  const b = generateKs({ ...base, random: undefined });
  t.not(a, b);
  t.is(describeKs(a).version, 2);
  t.not(refDecode(a, SECRET).rand, refDecode(b, SECRET).rand);
});

test('tampering any single byte breaks verification (v2 encrypted part, v1 anywhere)', (t) => {
  const prefix = Buffer.from('v2|102|').length;
  const v2Len = Buffer.from(VECTOR_V2.replace(/-/g, '+').replace(/_/g, '/'), 'base64').length;
  for (let i = prefix; i < v2Len; i++) {
    const bad = flipByte(VECTOR_V2, i, true);
    t.throws(() => refDecode(bad, SECRET), undefined, `reference decoder accepted v2 tampered at ${i}`);
    const err = t.throws(() => decodeKs(bad, SECRET), { instanceOf: KsError });
    t.is(err?.code, 'KS_BAD_SIGNATURE');
    const v = verifyKs(bad, SECRET, NOW);
    t.deepEqual(v.ok ? 'ok' : v.reason, 'INVALID_STR');
  }
  const v1Len = Buffer.from(VECTOR_V1, 'base64').length;
  for (let i = 0; i < v1Len; i++) {
    const bad = flipByte(VECTOR_V1, i, false);
    t.throws(() => refDecode(bad, SECRET), undefined, `reference decoder accepted v1 tampered at ${i}`);
    t.throws(() => decodeKs(bad, SECRET), { instanceOf: KsError });
  }
  // The wrong secret (a foreign-signed KS) fails too.
  t.throws(() => decodeKs(VECTOR_V2, SECRET + 'x'), { instanceOf: KsError });
  t.throws(() => decodeKs(VECTOR_V1, SECRET + 'x'), { instanceOf: KsError });
});

test('decodeKs reads the vectors back; several secrets (rotation) are accepted', (t) => {
  const d2 = decodeKs(VECTOR_V2, ['other-secret-0000', SECRET]);
  t.like(d2, { version: 2, partnerId: 102, expiresAt: NOW + 86400, type: 2, userId: 'MediaServer', privileges: PRIVS, rand: RANDOM.toString('hex') });
  t.deepEqual(d2.privilegeMap, { disableentitlement: '', sessionkey: PERMANENT_SESSION_KEY });
  const d1 = decodeKs(VECTOR_V1, SECRET);
  t.like(d1, { version: 1, partnerId: 102, expiresAt: NOW + 86400, type: 2, userId: 'MediaServer', privileges: PRIVS, rand: '1' });
  const w = decodeKs(VECTOR2_V2, SECRET);
  t.like(w, { partnerId: -5, type: 0, userId: 'ops team+1@example.com', privileges: '*' });
});

test('describeKs reads partner (and v1 expiry) without the secret; garbage is KS_MALFORMED', (t) => {
  t.deepEqual(describeKs(VECTOR_V1), { version: 1, partnerId: 102, expiresAt: NOW + 86400 });
  t.deepEqual(describeKs(VECTOR_V2), { version: 2, partnerId: 102 });
  t.deepEqual(describeKs(VECTOR_V2, SECRET), { version: 2, partnerId: 102, expiresAt: NOW + 86400 });
  for (const bad of ['', 'not a ks!', Buffer.from('hello|world').toString('base64'), Buffer.from('v2|abc|xxxx').toString('base64')]) {
    t.is(t.throws(() => describeKs(bad), { instanceOf: KsError })?.code, 'KS_MALFORMED', bad);
  }
});

test('verifyKs: expired exactly at expiresAt, like Kaltura (valid_until <= time())', (t) => {
  t.true(verifyKs(VECTOR_V2, SECRET, NOW + 86399).ok);
  const v = verifyKs(VECTOR_V2, SECRET, NOW + 86400);
  t.false(v.ok);
  t.is(v.ok ? undefined : v.reason, 'EXPIRED');
  t.is(v.ok ? undefined : v.ks?.userId, 'MediaServer');
  const v1 = verifyKs(VECTOR_V1, SECRET, NOW + 90000);
  t.is(v1.ok ? undefined : v1.reason, 'EXPIRED');
});

test('invalid options are typed errors', (t) => {
  t.is(t.throws(() => generateKs({ ...base, version: 1, userId: 'a;b' }), { instanceOf: KsError })?.code, 'KS_INVALID_FIELD');
  t.is(t.throws(() => generateKs({ ...base, secret: '' }), { instanceOf: KsError })?.code, 'KS_INVALID_OPTIONS');
  t.is(t.throws(() => generateKs({ ...base, random: Buffer.alloc(8) }), { instanceOf: KsError })?.code, 'KS_INVALID_OPTIONS');
  t.is(t.throws(() => generateKs({ ...base, expirySeconds: 0 }), { instanceOf: KsError })?.code, 'KS_INVALID_OPTIONS');
});

// ---------------------------------------------------------------------------------------------
// AdminSession

function fakeClock(start: number): { now: () => number; advance: (s: number) => void } {
  let t = start;
  return { now: () => t, advance: (s) => (t += s) };
}

test('AdminSession defaults: admin type, user MediaServer, 24 h, disableentitlement + permanent session key, v2', (t) => {
  const clock = fakeClock(NOW);
  const s = new AdminSession({ secret: SECRET, partnerId: -5, clock: clock.now });
  const ref = refDecode(s.ks(), SECRET);
  t.like(ref, { version: 2, partnerId: -5, type: 2, user: 'MediaServer', expiry: NOW + 86400 });
  t.deepEqual([...ref.privileges], [['disableentitlement', ''], ['sessionkey', 'kalturaWowzaPermanentSessionKey']]);
  t.is(s.expiresAt, NOW + 86400);
  t.is(s.renewals, 0);
  const v1 = new AdminSession({ secret: SECRET, partnerId: 102, version: 1, userId: 'other', clock: clock.now });
  t.like(refDecode(v1.ks(), SECRET), { version: 1, user: 'other', partnerId: 102 });
});

test('AdminSession renews inside the margin, keeps the KS before it', (t) => {
  const clock = fakeClock(NOW);
  const s = new AdminSession({ secret: SECRET, partnerId: 102, clock: clock.now, expirySeconds: 7200, renewMarginSeconds: 600 });
  const events: RenewedEvent[] = [];
  s.on('renewed', (e) => events.push(e));
  const first = s.ks();
  clock.advance(7200 - 601);
  t.is(s.ks(), first, 'still outside the margin');
  t.is(s.renewals, 0);
  clock.advance(1);
  const second = s.ks();
  t.not(second, first);
  t.is(s.renewals, 1);
  t.is(s.expiresAt, NOW + 7200 - 600 + 7200);
  t.is(refDecode(second, SECRET).expiry, s.expiresAt);
  t.deepEqual(events, [{ expiresAt: s.expiresAt, renewals: 1, reason: 'expiring' }]);
});

test('AdminSession.invalidate forces one renewal; a stale KS does not renew again', (t) => {
  const s = new AdminSession({ secret: SECRET, partnerId: 102 });
  const events: RenewedEvent[] = [];
  s.on('renewed', (e) => events.push(e));
  const a = s.ks();
  s.invalidate(a);
  s.invalidate(a); // a concurrent call that failed with the same KS
  const b = s.ks();
  t.not(b, a);
  t.is(s.ks(), b);
  t.is(s.renewals, 1);
  s.invalidate(a); // late report about the old KS: ignored
  t.is(s.ks(), b);
  s.invalidate(); // unconditional
  t.not(s.ks(), b);
  t.is(s.renewals, 2);
  t.deepEqual(events.map((e) => e.reason), ['invalidated', 'invalidated']);
});

test('AdminSession never exposes the secret (JSON, inspect, toJSON, String, errors)', (t) => {
  const secret = 'S3CRET-do-not-leak-4f0c9a';
  const s = new AdminSession({ secret, partnerId: 102 });
  s.invalidate();
  s.ks();
  const views = [
    JSON.stringify(s),
    JSON.stringify({ nested: { s } }),
    inspect(s),
    inspect(s, { showHidden: true, depth: Infinity, getters: true }),
    inspect({ s }, { showHidden: true, depth: Infinity }),
    // Even bypassing the custom inspector: the secret is not stored on the object at all.
    inspect(s, { customInspect: false, showHidden: true, depth: Infinity }),
    String(s),
    `${JSON.stringify(s.toJSON())}`,
    Object.values(Object.getOwnPropertyDescriptors(s))
      .map((d) => (typeof d.value === 'string' ? d.value : ''))
      .join(' '),
  ];
  for (const v of views) t.false(v.includes(secret), v);
  t.false(inspect(s).includes(s.ks()), 'the KS itself is not printed either');
  const err = t.throws(() => new AdminSession({ secret, partnerId: 102, expirySeconds: 100, renewMarginSeconds: 100 }), { instanceOf: KsError });
  t.false(`${err?.message} ${err?.stack} ${JSON.stringify(err)} ${inspect(err)}`.includes(secret));
  const err2 = t.throws(() => new AdminSession({ secret, partnerId: 1.5 }), { instanceOf: KsError });
  t.false(`${err2?.message} ${err2?.stack} ${inspect(err2)}`.includes(secret));
});
