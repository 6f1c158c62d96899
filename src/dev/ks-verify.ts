/**
 * KS (Kaltura Session) verification for the emulator, independent of the product's KS code.
 *
 * Follows kaltura/server alpha/apps/kaltura/lib/request/kSessionBase.class.php:
 * - the KS is base64 (either alphabet: '-' '_' are mapped back to '+' '/') of
 *   v1: `sha1hex(adminSecret + info) + "|" + info`, info = `pid;pid;expiry;type;rand;user;privileges[;master;additional]`
 *   v2: `"v2|" + pid + "|" + AES-128-CBC(key = sha1(adminSecret)[0..16], IV 0, zero padding)(sha1(rand16 + fields) + rand16 + fields)`,
 *       fields = a query string of privileges plus `_e` expiry, `_t` type, `_u` user (`_m`, `_d` optional).
 * - the signature is checked against each of the partner's admin secrets (comma list);
 *   an unknown partner, a bad signature or an unparsable string all fail the same way
 *   (parseKS returns false/null and ks::fromSecureString throws INVALID_STR).
 * - validity: expiry <= now → EXPIRED; a killed session (session.end) → LOGOUT.
 */
import { createDecipheriv, createHash } from 'node:crypto';

export interface KsSession {
  version: 1 | 2;
  partnerId: number;
  /** Unix seconds. */
  expiry: number;
  /** KalturaSessionType: 0 user, 2 admin. */
  type: number;
  user: string;
  /** Comma list, as in v1 (`*` for all). */
  privileges: string;
  /** Hex signature hash, used to identify the session (e.g. for session.end). */
  hash: string;
}

export type KsParseResult = { ok: true; session: KsSession } | { ok: false; reason: 'INVALID_STR' };

/** Returns the admin secrets of a partner, or undefined when the partner is unknown. */
export type AdminSecretLookup = (partnerId: number) => string[] | undefined;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const SHA1_SIZE = 20;
const RANDOM_SIZE = 16;

/** Cracks a KS and checks its signature; says nothing yet about expiry. */
export function parseKs(ks: string, adminSecretsOf: AdminSecretLookup): KsParseResult {
  const normalized = ks.replace(/-/g, '+').replace(/_/g, '/');
  // PHP's base64_decode(..., strict) refuses foreign characters; Node's decoder would skip them.
  if (normalized === '' || !BASE64.test(normalized)) return invalid();
  const decoded = Buffer.from(normalized, 'base64');
  if (decoded.length === 0) return invalid();
  const session =
    decoded.subarray(0, 3).toString('latin1') === 'v2|' ? parseV2(decoded, adminSecretsOf) : parseV1(decoded, adminSecretsOf);
  return session ? { ok: true, session } : invalid();
}

/** Validity of a cracked KS at `nowSeconds`. */
export function ksValidity(
  session: KsSession,
  nowSeconds: number,
  isLoggedOut: (hash: string) => boolean,
): 'OK' | 'EXPIRED' | 'LOGOUT' {
  if (session.expiry <= nowSeconds) return 'EXPIRED';
  if (isLoggedOut(session.hash)) return 'LOGOUT';
  return 'OK';
}

function invalid(): KsParseResult {
  return { ok: false, reason: 'INVALID_STR' };
}

function parseV1(decoded: Buffer, adminSecretsOf: AdminSecretLookup): KsSession | null {
  const text = decoded.toString('utf8');
  const bar = text.indexOf('|');
  if (bar < 0) return null;
  const hash = text.slice(0, bar);
  const info = text.slice(bar + 1);
  const parts = info.split(';');
  if (parts.length < 3) return null;
  const partnerId = toPartnerId(parts[0]);
  const secrets = partnerId === null ? undefined : adminSecretsOf(partnerId);
  if (!secrets || partnerId === null) return null;
  const signed = secrets.some((secret) => sha1Hex(secret + info) === hash);
  if (!signed) return null;
  return {
    version: 1,
    partnerId,
    expiry: toInt(parts[2]),
    type: toInt(parts[3] ?? ''),
    user: parts[5] ?? '',
    privileges: parts[6] ?? '',
    hash,
  };
}

function parseV2(decoded: Buffer, adminSecretsOf: AdminSecretLookup): KsSession | null {
  // "v2|<pid>|<binary>": split on the first two bars only, the ciphertext may contain '|'.
  const second = decoded.indexOf(0x7c, 3);
  if (second < 0) return null;
  const partnerId = toPartnerId(decoded.subarray(3, second).toString('latin1'));
  const secrets = partnerId === null ? undefined : adminSecretsOf(partnerId);
  if (!secrets || partnerId === null) return null;
  const encrypted = decoded.subarray(second + 1);
  for (const secret of secrets) {
    const plain = aesDecrypt(secret, encrypted);
    if (!plain) continue;
    const trimmed = rtrimZeros(plain);
    const hash = trimmed.subarray(0, SHA1_SIZE);
    const rest = trimmed.subarray(SHA1_SIZE);
    if (hash.length !== SHA1_SIZE || !createHash('sha1').update(rest).digest().equals(hash)) continue;
    return fromV2Fields(partnerId, rest.subarray(RANDOM_SIZE).toString('utf8'), hash.toString('hex'));
  }
  return null;
}

function fromV2Fields(partnerId: number, fields: string, hash: string): KsSession {
  const session: KsSession = { version: 2, partnerId, expiry: 0, type: 0, user: '', privileges: '', hash };
  const privileges: string[] = [];
  for (const [name, value] of new URLSearchParams(fields)) {
    if (name === '_e') session.expiry = toInt(value);
    else if (name === '_t') session.type = toInt(value);
    else if (name === '_u') session.user = value;
    else if (name === '_m' || name === '_d') continue;
    else privileges.push(value === '' ? name : `${name}:${value}`);
  }
  session.privileges = privileges.join(',') === 'all:*' ? '*' : privileges.join(',');
  return session;
}

function aesDecrypt(secret: string, data: Buffer): Buffer | null {
  if (data.length === 0 || data.length % 16 !== 0) return null;
  const key = createHash('sha1').update(secret, 'utf8').digest().subarray(0, 16);
  const decipher = createDecipheriv('aes-128-cbc', key, Buffer.alloc(16));
  // Kaltura pads with zero bytes, not PKCS#7.
  decipher.setAutoPadding(false);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}

function rtrimZeros(buf: Buffer): Buffer {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  return buf.subarray(0, end);
}

function sha1Hex(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex');
}

function toPartnerId(text: string): number | null {
  return /^-?\d+$/.test(text) ? Number(text) : null;
}

/** PHP's (int) cast: leading integer, else 0. */
function toInt(text: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}
