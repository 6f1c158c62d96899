/**
 * Kaltura's encrypted SRT pass (kaltura/server kBroadcastUrlManager::getEncryptedSrtPass):
 * `urlsafeB64Encode(openssl_encrypt(srtPass, 'AES-256-CBC', live_security_key, RAW, iv))`,
 * with the key from the `live_security_key` setting (default `klive`) and the IV from
 * `stream_id_security_key` (default empty). PHP's openssl pads a short key and IV with zero
 * bytes; the padding is PKCS#7; the base64 is `+/` → `-_` without `=`.
 *
 * The SRT stream id carries it as `ep=`, and liveStream.authenticate accepts it as the token.
 */
import { createCipheriv } from 'node:crypto';

/** Kaltura's default `live_security_key`. */
export const DEFAULT_LIVE_SECURITY_KEY = 'klive';

function padded(text: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  Buffer.from(text, 'utf8').copy(out, 0, 0, length);
  return out;
}

export function encryptedSrtPass(srtPass: string, key = DEFAULT_LIVE_SECURITY_KEY, iv = ''): string {
  const cipher = createCipheriv('aes-256-cbc', padded(key, 32), padded(iv, 16));
  const data = Buffer.concat([cipher.update(srtPass, 'utf8'), cipher.final()]);
  return data.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The SRT stream id Kaltura hands out for an entry (createSrtStreamId, no live-backend prefix). */
export function srtStreamId(entryId: string, sessionType: 0 | 1, streamPassword: string, srtPass?: string): string {
  const base = `#:::e=${entryId},st=${sessionType}`;
  return srtPass ? `${base},ep=${encryptedSrtPass(srtPass)}` : `${base},p=${streamPassword}`;
}
