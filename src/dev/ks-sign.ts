/**
 * KS signing for the emulator's own session.start (kSessionBase::generateKsV1/V2 in
 * kaltura/server). Kept apart from the product's KS generator on purpose: the emulator must
 * not share code with what it is used to test.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';

export interface KsFields {
  partnerId: number;
  adminSecret: string;
  /** Unix seconds. */
  expiry: number;
  type: number;
  user: string;
  privileges: string;
}

export function signKsV1(f: KsFields): string {
  const rand = randomBytes(4).readUInt32BE(0);
  const info = [f.partnerId, f.partnerId, f.expiry, f.type, rand, f.user, f.privileges].join(';');
  const signature = createHash('sha1').update(f.adminSecret + info, 'utf8').digest('hex');
  return Buffer.from(`${signature}|${info}`, 'utf8').toString('base64');
}

export function signKsV2(f: KsFields): string {
  const fields = new URLSearchParams();
  for (const raw of f.privileges.split(',')) {
    const privilege = raw.trim() === '*' ? 'all:*' : raw.trim();
    if (privilege === '') continue;
    const colon = privilege.indexOf(':');
    if (colon < 0) fields.set(privilege, '');
    else fields.set(privilege.slice(0, colon), privilege.slice(colon + 1));
  }
  fields.set('_e', String(f.expiry));
  fields.set('_t', String(f.type));
  fields.set('_u', f.user);
  const body = Buffer.concat([randomBytes(16), Buffer.from(fields.toString(), 'utf8')]);
  const plain = Buffer.concat([createHash('sha1').update(body).digest(), body]);
  const padded = Buffer.concat([plain, Buffer.alloc((16 - (plain.length % 16)) % 16)]);
  const key = createHash('sha1').update(f.adminSecret, 'utf8').digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-cbc', key, Buffer.alloc(16));
  cipher.setAutoPadding(false);
  const encrypted = Buffer.concat([cipher.update(padded), cipher.final()]);
  const decoded = Buffer.concat([Buffer.from(`v2|${f.partnerId}|`, 'latin1'), encrypted]);
  return decoded.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}
