/**
 * The publisher auth policy against a scripted Kaltura API and a manual clock (no sockets):
 * shared by the policy's unit tests.
 */
import { PublisherAuth, type AuthKalturaApi, type ConnectRequest, type PublisherAuthOptions } from '../../src/kaltura/auth';
import { KalturaApiError } from '../../src/kaltura/errors';
import type { KalturaBeacon, KalturaLiveStreamEntry } from '../../src/kaltura/types';
import type { QueryParam } from '../../src/ingest/native';

export const q = (text: string): QueryParam[] =>
  text === ''
    ? []
    : text.split('&').map((pair) => {
        const [key, value = ''] = pair.split('=');
        return { key, value: decodeURIComponent(value) };
      });

export interface Call {
  action: 'get' | 'authenticate' | 'beacon';
  entryId: string;
  impersonate?: number;
  token?: string;
  hostname?: string;
  index?: number;
  beacon?: KalturaBeacon;
}

export const ENTRY = '0_rkij47dr';
export const OTHER = '0_otherent';

export class FakeKaltura implements AuthKalturaApi {
  readonly calls: Call[] = [];
  /** entry → partner; token per entry. */
  entries = new Map<string, { partnerId: number; token: string }>([
    [ENTRY, { partnerId: 102, token: 'good' }],
    [OTHER, { partnerId: 103, token: 'other' }],
  ]);
  /** When set, authenticate waits for this before answering. */
  gate?: Promise<void>;
  /** When set, every call fails with this. */
  failWith?: Error;
  /** Entries whose authenticate never answers. */
  readonly hang = new Set<string>();

  async liveStreamGet(entryId: string, impersonate?: number): Promise<KalturaLiveStreamEntry> {
    this.calls.push({ action: 'get', entryId, impersonate });
    if (this.failWith) throw this.failWith;
    const e = this.entries.get(entryId);
    if (!e) throw apiError('ENTRY_ID_NOT_FOUND', `Entry id "${entryId}" not found`, 'get');
    return { objectType: 'KalturaLiveStreamEntry', id: entryId, partnerId: e.partnerId };
  }

  async liveStreamAuthenticate(entryId: string, token: string, hostname: string, index: 0 | 1, impersonate?: number): Promise<KalturaLiveStreamEntry> {
    this.calls.push({ action: 'authenticate', entryId, token, hostname, index, impersonate });
    if (this.gate) await this.gate;
    if (this.hang.has(entryId)) await new Promise<never>(() => undefined);
    if (this.failWith) throw this.failWith;
    const e = this.entries.get(entryId);
    if (!e || (impersonate !== undefined && impersonate !== e.partnerId)) throw apiError('ENTRY_ID_NOT_FOUND', `Entry id "${entryId}" not found`, 'authenticate');
    if (e.token !== token) throw apiError('LIVE_STREAM_INVALID_TOKEN', `Invalid token supplied for live entry [${entryId}]`, 'authenticate');
    return { objectType: 'KalturaLiveStreamEntry', id: entryId, partnerId: e.partnerId, conversionProfileId: 7 };
  }

  async beaconAdd(beacon: KalturaBeacon, impersonate?: number): Promise<boolean> {
    this.calls.push({ action: 'beacon', entryId: beacon.objectId, beacon, impersonate });
    return true;
  }

  of(action: Call['action']): Call[] {
    return this.calls.filter((c) => c.action === action);
  }
}

export function apiError(code: string, message: string, action: string): KalturaApiError {
  return new KalturaApiError({ code, message, service: 'livestream', action });
}

/** `clock`: pass one to share it with other parts of the test (a DecisionStore). */
export function setup(opts: Partial<PublisherAuthOptions> = {}, clock = { ms: 1_700_000_000_000 }) {
  const api = new FakeKaltura();
  const auth = new PublisherAuth({
    api,
    impersonation: 'entry-partner',
    hostname: 'media-1',
    decisionTimeoutMs: 1000,
    now: () => clock.ms,
    ...opts,
  });
  let nextId = 1;
  const connect = (query: string, extra: Partial<ConnectRequest> = {}) =>
    auth.connect({ connectionId: nextId++, remoteAddress: '10.1.2.3:4444', app: 'kLive', tcUrl: `rtmp://h/kLive/?${query}`, query: q(query), ...extra });
  /** The same, from another client address. */
  const connectFrom = (remoteAddress: string, query: string) => connect(query, { remoteAddress });
  return { api, clock, auth, connect, connectFrom, lastId: () => nextId - 1 };
}

export const url = (token = 'good', entry = ENTRY, partner = 102, index = 0) => `p=${partner}&e=${entry}&i=${index}&t=${token}`;

