/**
 * Kaltura Session (KS) strings: generation from the partner admin secret, and decoding /
 * verification (used by the embedded emulator and by diagnostics).
 *
 * Byte layout, as kaltura/server builds and parses it (alpha/apps/kaltura/lib/request/
 * kSessionBase.class.php: generateKsV1/generateKsV2/parseKsV1/parseKsV2, and
 * infra/general/KCryptoWrapper.class.php) and as the official clients generate it
 * (KalturaClient.generateSession / generateSessionV2 in the Python and PHP client libraries):
 *
 *   v1: base64( sha1hex(secret + info) + "|" + info )
 *       info = "pid;pid;expiry;type;rand;userId;privileges"   (standard base64, '=' kept)
 *   v2: base64url( "v2|pid|" + AES-128-CBC(key = sha1(secret)[0..16], IV = 16 zero bytes,
 *                    zero-padded to the block size, no padding when already aligned)
 *                  of sha1raw(rand16 + fields) + rand16 + fields )
 *       fields = http_build_query of the privileges (name=value, or name= when the privilege
 *       has no value; '*' is sent as all=*) followed by _e (expiry), _t (type), _u (user);
 *       base64url here means '+/' → '-_' with the '=' padding kept.
 *
 * The server decodes either flavour of base64 (it maps '-_' back before decoding), strips
 * trailing NULs after decrypting, and answers an expired KS with INVALID_KS (reason EXPIRED).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KsError } from './errors';
import type { SessionType } from './types';

const RANDOM_SIZE = 16;
const SHA1_SIZE = 20;
const AES_BLOCK = 16;
const FIELD_EXPIRY = '_e';
const FIELD_TYPE = '_t';
const FIELD_USER = '_u';
const FIELD_MASTER_PARTNER = '_m';
const FIELD_ADDITIONAL_DATA = '_d';

export type KsVersion = 1 | 2;

export interface GenerateKsOptions {
  secret: string;
  partnerId: number;
  type: SessionType;
  userId: string;
  /** Lifetime from `now`, in seconds. */
  expirySeconds: number;
  /** Comma-separated privileges, e.g. `disableentitlement,sessionkey:abc`. */
  privileges: string;
  /** Default 2. */
  version?: KsVersion;
  /** Unix seconds; default the current time. For tests. */
  now?: number;
  /** v2: the 16 random bytes. v1: the `rand` field is readUInt16BE(0) of it. Default random. */
  random?: Buffer;
}

/** What can be read from a KS without the secret. */
export interface KsInfo {
  version: KsVersion;
  partnerId: number;
  /** Unix seconds. v1 carries it in clear; v2 only inside the encrypted part (undefined). */
  expiresAt?: number;
}

/** The full content of a KS whose signature has been checked. */
export interface DecodedKs {
  version: KsVersion;
  partnerId: number;
  /** Unix seconds. */
  expiresAt: number;
  /** KalturaSessionType: 0 user, 1 widget, 2 admin. */
  type: number;
  userId: string;
  /** Privileges as Kaltura rebuilds them: `name` or `name:value`, comma-separated. */
  privileges: string;
  /** Privilege name → value ('' when the privilege has none). */
  privilegeMap: Record<string, string>;
  /** v1: the rand field as written; v2: the 16 random bytes in hex. */
  rand: string;
  masterPartnerId?: number;
  additionalData?: string;
}

/** Kaltura's reasons for refusing a KS (kSessionUtils::getErrorStr), as far as the KS itself tells. */
export type KsRefusal = 'INVALID_STR' | 'EXPIRED';

export type KsVerification = { ok: true; ks: DecodedKs } | { ok: false; reason: KsRefusal; ks?: DecodedKs };

export function generateKs(opts: GenerateKsOptions): string {
  const version = opts.version ?? 2;
  checkOptions(opts, version);
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const expiry = Math.floor(now + opts.expirySeconds);
  const random = opts.random ?? randomBytes(RANDOM_SIZE);
  return version === 1 ? generateV1(opts, expiry, random) : generateV2(opts, expiry, random);
}

/**
 * Version, partner and (v1 only) expiry, readable without the secret. With the secret, a v2
 * KS is decrypted to fill expiresAt too (and its signature checked). Throws KsError.
 */
export function describeKs(ks: string, secret?: string | readonly string[]): KsInfo {
  const raw = decodeBase64(ks);
  if (isV2(raw)) {
    const { partnerId } = splitV2(raw);
    if (secret === undefined) return { version: 2, partnerId };
    return { version: 2, partnerId, expiresAt: decodeKs(ks, secret).expiresAt };
  }
  const { info } = splitV1(raw);
  const parts = info.toString('utf8').split(';');
  return { version: 1, partnerId: parseIntField(parts[0], 'partner id'), expiresAt: parseIntField(parts[2], 'expiry') };
}

/**
 * Decode a KS and check its signature against the admin secret (or any of several secrets, as
 * Kaltura allows a comma-separated list during rotation). Does not check expiry: see verifyKs.
 * In v2 the outer "v2|pid|" is not covered by the signature: Kaltura picks the secret by that
 * partner id, so a verifier must do the same (look the secret up by describeKs(ks).partnerId)
 * rather than trust the partner of a KS that any known secret opens.
 * Throws KsError KS_MALFORMED or KS_BAD_SIGNATURE.
 */
export function decodeKs(ks: string, secret: string | readonly string[]): DecodedKs {
  const secrets = typeof secret === 'string' ? [secret] : [...secret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new KsError('KS_INVALID_OPTIONS', 'decodeKs needs a non-empty secret');
  }
  const raw = decodeBase64(ks);
  return isV2(raw) ? decodeV2(raw, secrets) : decodeV1(raw, secrets);
}

/** Decode, check signature and expiry the way Kaltura does (expired when expiresAt <= now). */
export function verifyKs(ks: string, secret: string | readonly string[], now = Math.floor(Date.now() / 1000)): KsVerification {
  let decoded: DecodedKs;
  try {
    decoded = decodeKs(ks, secret);
  } catch (err) {
    if (err instanceof KsError && err.code !== 'KS_INVALID_OPTIONS') return { ok: false, reason: 'INVALID_STR' };
    throw err;
  }
  if (decoded.expiresAt <= now) return { ok: false, reason: 'EXPIRED', ks: decoded };
  return { ok: true, ks: decoded };
}

// ---------------------------------------------------------------------------------------------
// v1

function generateV1(opts: GenerateKsOptions, expiry: number, random: Buffer): string {
  if (random.length < 2) throw new KsError('KS_INVALID_OPTIONS', 'random must hold at least 2 bytes for a v1 KS');
  // The reference clients use a small random integer (Python: randint(0, 0x10000)).
  const rand = random.readUInt16BE(0);
  const info = [opts.partnerId, opts.partnerId, expiry, opts.type, rand, opts.userId, opts.privileges].join(';');
  const signature = sha1(Buffer.concat([Buffer.from(opts.secret, 'utf8'), Buffer.from(info, 'utf8')])).toString('hex');
  return Buffer.from(`${signature}|${info}`, 'utf8').toString('base64');
}

function splitV1(raw: Buffer): { hash: string; info: Buffer } {
  const bar = raw.indexOf(0x7c); // '|'
  if (bar !== SHA1_SIZE * 2) throw new KsError('KS_MALFORMED', 'not a KS: no signature separator');
  const hash = raw.subarray(0, bar).toString('latin1');
  if (!/^[0-9a-f]{40}$/.test(hash)) throw new KsError('KS_MALFORMED', 'not a KS: bad signature field');
  const info = raw.subarray(bar + 1);
  if (info.toString('utf8').split(';').length < 3) throw new KsError('KS_MALFORMED', 'not a KS: too few fields');
  return { hash, info };
}

function decodeV1(raw: Buffer, secrets: string[]): DecodedKs {
  const { hash, info } = splitV1(raw);
  const expected = Buffer.from(hash, 'latin1');
  const matches = secrets.some((s) => {
    const actual = Buffer.from(sha1(Buffer.concat([Buffer.from(s, 'utf8'), info])).toString('hex'), 'latin1');
    return timingSafeEqual(actual, expected);
  });
  if (!matches) throw new KsError('KS_BAD_SIGNATURE', 'KS signature does not match the secret');
  const parts = info.toString('utf8').split(';');
  const privileges = parts[6] ?? '';
  const decoded: DecodedKs = {
    version: 1,
    partnerId: parseIntField(parts[0], 'partner id'),
    expiresAt: parseIntField(parts[2], 'expiry'),
    type: parts[3] === undefined ? 0 : parseIntField(parts[3], 'type'),
    rand: parts[4] ?? '',
    userId: parts[5] ?? '',
    privileges,
    privilegeMap: parseV1Privileges(privileges),
  };
  if (parts[7]) decoded.masterPartnerId = parseIntField(parts[7], 'master partner id');
  if (parts[8]) decoded.additionalData = parts[8];
  return decoded;
}

function parseV1Privileges(privileges: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const p of privileges.split(',')) {
    if (p === '') continue;
    const colon = p.indexOf(':');
    const name = colon < 0 ? p : p.slice(0, colon);
    const value = colon < 0 ? '' : p.slice(colon + 1);
    // Kaltura merges repeated privileges; keep the first value, append later ones with '/'
    // (its value delimiter) so nothing is silently lost.
    map[name] = map[name] ? (value ? `${map[name]}/${value}` : map[name]) : value;
  }
  return map;
}

// ---------------------------------------------------------------------------------------------
// v2

function generateV2(opts: GenerateKsOptions, expiry: number, random: Buffer): string {
  if (random.length !== RANDOM_SIZE) throw new KsError('KS_INVALID_OPTIONS', `random must be exactly ${RANDOM_SIZE} bytes for a v2 KS`);
  // A Map keeps insertion order and, like a PHP array, keeps a repeated key at its first place.
  const fields = new Map<string, string>();
  for (const entry of opts.privileges.split(',')) {
    let privilege = entry.trim();
    if (privilege === '') continue;
    if (privilege === '*') privilege = 'all:*';
    const colon = privilege.indexOf(':');
    if (colon < 0) fields.set(privilege, '');
    else fields.set(privilege.slice(0, colon), privilege.slice(colon + 1));
  }
  fields.set(FIELD_EXPIRY, String(expiry));
  fields.set(FIELD_TYPE, String(opts.type));
  fields.set(FIELD_USER, opts.userId);

  const query = [...fields].map(([k, v]) => `${phpUrlencode(k)}=${phpUrlencode(v)}`).join('&');
  const payload = Buffer.concat([random, Buffer.from(query, 'utf8')]);
  const plain = zeroPad(Buffer.concat([sha1(payload), payload]));
  const cipher = createCipheriv('aes-128-cbc', aesKey(opts.secret), Buffer.alloc(AES_BLOCK));
  cipher.setAutoPadding(false);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  const decoded = Buffer.concat([Buffer.from(`v2|${opts.partnerId}|`, 'utf8'), encrypted]);
  return decoded.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function isV2(raw: Buffer): boolean {
  return raw.length >= 3 && raw.subarray(0, 3).toString('latin1') === 'v2|';
}

function splitV2(raw: Buffer): { partnerId: number; encrypted: Buffer } {
  const second = raw.indexOf(0x7c, 3);
  if (second < 0) throw new KsError('KS_MALFORMED', 'not a KS: missing partner separator');
  const partnerId = parseIntField(raw.subarray(3, second).toString('latin1'), 'partner id');
  return { partnerId, encrypted: raw.subarray(second + 1) };
}

function decodeV2(raw: Buffer, secrets: string[]): DecodedKs {
  const { partnerId, encrypted } = splitV2(raw);
  if (encrypted.length === 0 || encrypted.length % AES_BLOCK !== 0) {
    throw new KsError('KS_MALFORMED', 'not a KS: encrypted part is not whole AES blocks');
  }
  for (const secret of secrets) {
    const decipher = createDecipheriv('aes-128-cbc', aesKey(secret), Buffer.alloc(AES_BLOCK));
    decipher.setAutoPadding(false);
    const plain = stripTrailingZeros(Buffer.concat([decipher.update(encrypted), decipher.final()]));
    if (plain.length < SHA1_SIZE + RANDOM_SIZE) continue;
    const hash = plain.subarray(0, SHA1_SIZE);
    const payload = plain.subarray(SHA1_SIZE);
    if (!timingSafeEqual(hash, sha1(payload))) continue;
    return v2Fields(partnerId, payload);
  }
  throw new KsError('KS_BAD_SIGNATURE', 'KS signature does not match the secret');
}

function v2Fields(partnerId: number, payload: Buffer): DecodedKs {
  const rand = payload.subarray(0, RANDOM_SIZE).toString('hex');
  const query = payload.subarray(RANDOM_SIZE).toString('utf8');
  const privileges: string[] = [];
  const privilegeMap: Record<string, string> = {};
  let expiresAt: number | undefined;
  let type = 0;
  let userId = '';
  let masterPartnerId: number | undefined;
  let additionalData: string | undefined;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = phpUrldecode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : phpUrldecode(pair.slice(eq + 1));
    switch (name) {
      case FIELD_EXPIRY:
        expiresAt = parseIntField(value, 'expiry');
        break;
      case FIELD_TYPE:
        type = parseIntField(value, 'type');
        break;
      case FIELD_USER:
        userId = value;
        break;
      case FIELD_MASTER_PARTNER:
        if (value !== '') masterPartnerId = parseIntField(value, 'master partner id');
        break;
      case FIELD_ADDITIONAL_DATA:
        if (value !== '') additionalData = value;
        break;
      default:
        privileges.push(value === '' ? name : `${name}:${value}`);
        privilegeMap[name] = value;
    }
  }
  if (expiresAt === undefined) throw new KsError('KS_MALFORMED', 'KS has no expiry field');
  let joined = privileges.join(',');
  if (joined === 'all:*') joined = '*';
  const decoded: DecodedKs = { version: 2, partnerId, expiresAt, type, userId, privileges: joined, privilegeMap, rand };
  if (masterPartnerId !== undefined) decoded.masterPartnerId = masterPartnerId;
  if (additionalData !== undefined) decoded.additionalData = additionalData;
  return decoded;
}

// ---------------------------------------------------------------------------------------------
// helpers

function checkOptions(opts: GenerateKsOptions, version: number): void {
  if (version !== 1 && version !== 2) throw new KsError('KS_INVALID_OPTIONS', `unknown KS version ${String(version)}`);
  if (typeof opts.secret !== 'string' || opts.secret.length === 0) throw new KsError('KS_INVALID_OPTIONS', 'secret is empty');
  if (!Number.isInteger(opts.partnerId)) throw new KsError('KS_INVALID_OPTIONS', 'partnerId must be an integer');
  if (!(opts.expirySeconds > 0)) throw new KsError('KS_INVALID_OPTIONS', 'expirySeconds must be positive');
  if (opts.now !== undefined && !Number.isFinite(opts.now)) throw new KsError('KS_INVALID_OPTIONS', 'now must be finite');
  if (version === 1) {
    // v1 is a ';'-separated record parsed by position: a ';' would shift every later field.
    for (const [name, value] of [['userId', opts.userId], ['privileges', opts.privileges]] as const) {
      if (value.includes(';')) throw new KsError('KS_INVALID_FIELD', `${name} cannot contain ';' in a v1 KS`);
    }
  }
}

function sha1(data: Buffer): Buffer {
  return createHash('sha1').update(data).digest();
}

function aesKey(secret: string): Buffer {
  return sha1(Buffer.from(secret, 'utf8')).subarray(0, AES_BLOCK);
}

function zeroPad(data: Buffer): Buffer {
  const rest = data.length % AES_BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(AES_BLOCK - rest)]);
}

function stripTrailingZeros(data: Buffer): Buffer {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  return data.subarray(0, end);
}

function decodeBase64(ks: string): Buffer {
  if (typeof ks !== 'string') throw new KsError('KS_MALFORMED', 'not a KS: not a string');
  const text = ks.trim();
  // Node's decoder silently skips bad characters; Kaltura decodes strictly, so check first.
  if (text.length === 0 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw new KsError('KS_MALFORMED', 'not a KS: not base64');
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function parseIntField(value: string | undefined, what: string): number {
  if (value === undefined || !/^-?\d+$/.test(value)) throw new KsError('KS_MALFORMED', `not a KS: bad ${what}`);
  return Number(value);
}

/** PHP urlencode(): only [A-Za-z0-9_.-] stay as they are, space becomes '+'. */
function phpUrlencode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** PHP urldecode(): '+' is a space, %XX a byte. */
function phpUrldecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw new KsError('KS_MALFORMED', 'not a KS: bad field encoding');
  }
}
