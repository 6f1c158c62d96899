/**
 * What a publisher's RTMP URL says about who it is: entry, partner, server index and token.
 * Pure functions, no I/O.
 *
 * Rules of the replaced server (kaltura/media-server, KalturaWowzaServer
 * services/Utils.getRtmpUrlParameters and modules/AuthenticationModule.onClientConnect):
 * - query parameters `e` entry id, `p` partner id, `i` server index (0 primary, 1 backup),
 *   `t` token; a trailing `/` on the query is dropped;
 * - the hostname form `rtmp://<entryId>.<p|b>.<anything>.kpublish.kaltura.com/kLive` gives the
 *   entry id (it wins over `e`), and, when the query lacks them, the index (`p` → 0, `b` → 1)
 *   and partner -5;
 * - missing arguments are reported in the order entryId, token, partnerId, server index with
 *   the message `Missing argument: <name>`;
 * - the published stream name is `<entryId>_<n>` (../stream-name), n any positive integer:
 *   the conversion profile decides which ingests exist.
 */
import type { QueryParam } from '../../ingest/native';
import { MASK } from '../../log';
import type { MediaServerIndex } from '../api';
import { ENTRY_ID_RE, splitStreamName, streamSuffix } from '../stream-name';
/** The kpublish hostname form (Utils.getRtmpUrlParameters' NewPattern, anchored on the host). */
const KPUBLISH_HOST_RE = /^([01]_[0-9a-z]{8})\.([pb])\.(?:[^.]*\.)*kpublish\.kaltura\.com\.?$/i;

/** The URL parameter names of the publishing contract. */
export const PARAM = { entryId: 'e', partnerId: 'p', serverIndex: 'i', token: 't' } as const;

/** Argument names as the refusal messages spell them, in the order the old server checked them. */
export const ARGUMENT_ORDER = ['entryId', 'token', 'partnerId', 'server index'] as const;
export type ArgumentName = (typeof ARGUMENT_ORDER)[number];

/** Raw arguments found in a URL: text, not yet validated. */
export interface RawPublishArgs {
  entryId?: string;
  partnerId?: string;
  serverIndex?: string;
  token?: string;
  /** Where the entry id came from. */
  entrySource?: 'query' | 'kpublish-host';
}

/** Complete, validated arguments. */
export interface PublishArgs {
  entryId: string;
  partnerId: number;
  serverIndex: MediaServerIndex;
  token: string;
}

export type ArgsProblem = { kind: 'missing'; argument: ArgumentName } | { kind: 'invalid'; argument: ArgumentName };

export type ArgsCheck = { ok: true; args: PublishArgs } | { ok: false; problem: ArgsProblem; message: string };

/** The arguments of a connect: its query (app + tcUrl, split by the core) and the tcUrl host. */
export function argsFromConnect(query: readonly QueryParam[], tcUrl: string | undefined): RawPublishArgs {
  const raw = argsFromQuery(query);
  const host = tcUrl === undefined ? undefined : hostOf(tcUrl);
  const m = host === undefined ? null : KPUBLISH_HOST_RE.exec(host);
  if (m) {
    raw.entryId = m[1].toLowerCase();
    raw.entrySource = 'kpublish-host';
    raw.partnerId ??= '-5';
    raw.serverIndex ??= m[2].toLowerCase() === 'p' ? '0' : '1';
  }
  return raw;
}

/** The arguments in a query parameter list (a connect's or a stream name's). */
export function argsFromQuery(query: readonly QueryParam[]): RawPublishArgs {
  const out: RawPublishArgs = {};
  const get = (key: string): string | undefined => {
    const found = query.find((q) => q.key === key);
    if (found === undefined) return undefined;
    // Some encoders end the app with '/', which lands on the last query value.
    const value = found.value.replace(/\/+$/, '');
    return value === '' ? undefined : value;
  };
  const e = get(PARAM.entryId);
  const p = get(PARAM.partnerId);
  const i = get(PARAM.serverIndex);
  const t = get(PARAM.token);
  if (e !== undefined) {
    out.entryId = e;
    out.entrySource = 'query';
  }
  if (p !== undefined) out.partnerId = p;
  if (i !== undefined) out.serverIndex = i;
  if (t !== undefined) out.token = t;
  return out;
}

/** True when the URL carries any argument of the contract (so it must carry all of them). */
export function hasAnyArgument(raw: RawPublishArgs): boolean {
  return raw.entryId !== undefined || raw.partnerId !== undefined || raw.serverIndex !== undefined || raw.token !== undefined;
}

/** Check presence (in the old server's order) and form of every argument. */
export function checkArgs(raw: RawPublishArgs): ArgsCheck {
  const present: Record<ArgumentName, string | undefined> = {
    entryId: raw.entryId,
    token: raw.token,
    partnerId: raw.partnerId,
    'server index': raw.serverIndex,
  };
  for (const argument of ARGUMENT_ORDER) {
    if (present[argument] === undefined) {
      return { ok: false, problem: { kind: 'missing', argument }, message: `Missing argument: ${argument}` };
    }
  }
  const invalid = (argument: ArgumentName): ArgsCheck => ({
    ok: false,
    problem: { kind: 'invalid', argument },
    message: `Invalid argument: ${argument}`,
  });
  const entryId = raw.entryId as string;
  // An id that cannot be a Kaltura entry would only cost an API call and a 30 s block.
  if (!ENTRY_ID_RE.test(entryId)) return invalid('entryId');
  const partner = raw.partnerId as string;
  if (!/^-?\d{1,10}$/.test(partner) || !Number.isSafeInteger(Number(partner))) return invalid('partnerId');
  const index = raw.serverIndex as string;
  if (index !== '0' && index !== '1') return invalid('server index');
  return { ok: true, args: { entryId, partnerId: Number(partner), serverIndex: index === '0' ? 0 : 1, token: raw.token as string } };
}

export type StreamNameCheck =
  | { ok: true; entryId: string; suffix: number }
  | { ok: false; reason: 'invalid' | 'entry-mismatch' | 'bad-suffix'; message: string };

/**
 * Validate a published stream name against the connection's entry. Messages as the old
 * server's LiveStreamListener.onPublish wrote them. Any positive suffix passes: an ingest the
 * conversion profile lacks is refused by wowza_liveConversionProfile.serve
 * (INGEST_NOT_FOUND_IN_CONVERSION_PROFILE), which knows the profile.
 */
export function checkStreamName(streamName: string, connectionEntryId: string): StreamNameCheck {
  const parts = splitStreamName(streamName);
  if (!parts) return { ok: false, reason: 'invalid', message: `Published stream is invalid [${streamName}]` };
  if (parts.entryId !== connectionEntryId) {
    return {
      ok: false,
      reason: 'entry-mismatch',
      message: `Published stream name [${streamName}] does not match entry id [${connectionEntryId}]`,
    };
  }
  const n = streamSuffix(parts.suffix);
  if (n === undefined) {
    return { ok: false, reason: 'bad-suffix', message: `Published stream name [${streamName}], has wrong suffix stream name: ${parts.suffix}` };
  }
  return { ok: true, entryId: parts.entryId, suffix: n };
}

/** A URL with its token (and any other credential parameter) masked. */
export function maskUrl(url: string): string {
  return url.replace(/([?&](?:t|token|ks)=)[^&\s/]*/gi, `$1${MASK}`);
}

/** A query list back to text, credentials masked (for refusal records). */
export function maskedQuery(query: readonly QueryParam[]): string {
  if (query.length === 0) return '';
  const parts = query.map((q) => `${q.key}=${/^(t|token|ks)$/i.test(q.key) ? MASK : q.value}`);
  return `?${parts.join('&')}`;
}

function hostOf(url: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(url);
  return m ? m[1] : undefined;
}
