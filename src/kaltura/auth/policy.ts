/**
 * PublisherAuth: decides whether a publisher may connect and publish, with the rules of the
 * replaced Wowza module (kaltura/media-server KalturaWowzaServer modules/AuthenticationModule,
 * services/KalturaAPI, services/Constants):
 *
 * - Authentication happens at connect when the connect URL carries the arguments (the old
 *   server's only place); a connect without any argument is admitted provisionally and must
 *   carry them in its publish stream-name query instead (`…/kLive` + key `0_x_1?e=…&t=…`).
 *   A connect with some but not all arguments is refused with `Missing argument: <name>`.
 * - Partner -5 (`impersonation: 'entry-partner'`): when the URL's partner is -5 (or absent, in
 *   the kpublish hostname form), liveStream.get as partner -5 learns the entry's partner; with
 *   a URL partner the call impersonates it directly, as the old server did (Kaltura's partner
 *   filter answers ENTRY_ID_NOT_FOUND when it is wrong). liveStream.authenticate then runs as
 *   that partner. eCDN / own partner (`impersonation: 'none'`): never impersonate.
 * - One authentication in flight per entry (and token and server index): concurrent
 *   publishers share its promise. A success is reused for 10 s
 *   (KALTURA_MIN_TIME_BETWEEN_AUTHENTICATIONS). Kaltura refusing the entry blocks it for 30 s
 *   (KALTURA_PERSISTENCE_DATA_MIN_ENTRY_TIME) with `Connection blocked due to previous error
 *   [N] seconds ago: MSG. Try to connect in M seconds`, N = whole seconds since the failure,
 *   M = 30 − N, MSG Kaltura's message.
 * - A Kaltura refusal sends a health beacon (beacon.ts) as the entry's partner; so does a
 *   stream name of another entry (INCORRECT_STREAM_NAME, parameter = the stream name).
 *
 * Deliberate differences from the old code, each a fix:
 * - The success cache is keyed by entry + server index + token (the old one by entry alone,
 *   which admitted any token for 10 s after a success, and never told Kaltura about a backup
 *   that connected within 10 s of the primary).
 * - The block runs 30 s from the failure. (The old code caught its own "blocked" exception,
 *   which reset the clock and then failed casting it to KalturaApiException.)
 * - Transport failures and INVALID_KS do not block the entry and send no beacon: they say
 *   nothing about the entry, and Kaltura being down must not keep encoders out after it is back.
 * - The token is masked in the beacon's `parameter` (the old server sent it in clear).
 * - Waiting is bounded: past `decisionTimeoutMs` the request is refused with
 *   `Kaltura API unavailable: timeout after N ms`; the flight goes on and its result is cached.
 *
 * - Only the configured RTMP application (`kLive`, optionally `kLive/<instance>`) is served, as
 *   Wowza served only its applications.
 *
 * Pure policy: the Kaltura API and the clock (for the 10 s / 30 s windows) are injected; no
 * sockets here. Only the decision deadline runs on a real timer.
 */
import { createHash } from 'node:crypto';
import type { QueryParam } from '../../ingest/native';
import { maskToken, silentLogger, type Logger } from '../../log';
import type { KalturaApi, MediaServerIndex } from '../api';
import { KalturaApiError } from '../errors';
import type { KalturaLiveStreamEntry } from '../types';
import { healthBeacon } from './beacon';
import { AuthError } from './errors';
import { argsFromConnect, argsFromQuery, checkArgs, checkStreamName, hasAnyArgument, maskedQuery, maskUrl, type PublishArgs } from './publish-args';
import { RefusalLog, type RefusalCounts, type RefusalRecord } from './refusal-log';

/** Kaltura's built-in media-server partner. */
export const MEDIA_SERVER_PARTNER = -5;
export const DEFAULT_REAUTH_INTERVAL_MS = 10_000;
export const DEFAULT_BLOCK_MS = 30_000;

/** The Kaltura calls the policy makes (tests may pass another implementation). */
export type AuthKalturaApi = Pick<KalturaApi, 'liveStreamGet' | 'liveStreamAuthenticate' | 'beaconAdd'>;

export interface PublisherAuthOptions {
  api: AuthKalturaApi;
  /** 'entry-partner': partner -5 mode. 'none': eCDN, or a server configured with a real partner. */
  impersonation: 'entry-partner' | 'none';
  /** This media server's node name (liveStream.authenticate `hostname`). */
  hostname: string;
  /** The RTMP application publishers must connect to; also sent to liveStream.authenticate. Unset: any. */
  applicationName?: string;
  /** Longest a connect/publish waits for Kaltura. */
  decisionTimeoutMs: number;
  reauthIntervalMs?: number;
  blockMs?: number;
  /** Refusals kept; default 100. */
  maxRefusals?: number;
  /** Highest stream-name suffix accepted; default 3 (multi-bitrate ingest `_1`…`_3`). */
  maxIngestSuffix?: number;
  /** Epoch ms; default Date.now. */
  now?: () => number;
  log?: Logger;
}

export interface ConnectRequest {
  connectionId: number;
  remoteAddress: string;
  app: string;
  tcUrl?: string;
  query: readonly QueryParam[];
}

export interface PublishRequest {
  connectionId: number;
  streamName: string;
  query: readonly QueryParam[];
}

export type AuthDecision =
  | { accept: true; entryId?: string; via?: 'kaltura' | 'cache' | 'deferred' }
  | { accept: false; error: AuthError };

/** What is known about an admitted connection. */
export interface AuthenticatedConnection {
  connectionId: number;
  entryId: string;
  serverIndex: MediaServerIndex;
  /** The entry's partner (impersonated for later calls in partner -5 mode). */
  partnerId: number;
  entry: KalturaLiveStreamEntry;
  /** Epoch ms of the authentication that admitted it. */
  authenticatedAt: number;
}

export interface AuthStats {
  /** Authentications sent to Kaltura. */
  authentications: number;
  /** Requests answered from the 10 s success cache. */
  cacheHits: number;
  /** Requests that waited for an authentication already in flight. */
  joinedFlights: number;
  timeouts: number;
  acceptedConnects: number;
  refusedConnects: number;
  acceptedPublishes: number;
  refusedPublishes: number;
  beaconsSent: number;
  beaconFailures: number;
}

interface EntryAuth {
  at: number;
  entry: KalturaLiveStreamEntry;
  partnerId: number;
}

interface EntryState {
  failure?: { at: number; message: string; code: string };
  successes: Map<string, EntryAuth>;
  flights: Map<string, Promise<EntryAuth>>;
}

interface ConnectionState {
  ip: string;
  /** tcUrl, masked. */
  url: string;
  args?: PublishArgs;
  auth?: AuthenticatedConnection;
}

const SWEEP_INTERVAL_MS = 60_000;

export class PublisherAuth {
  private readonly api: AuthKalturaApi;
  private readonly impersonate: boolean;
  private readonly hostname: string;
  private readonly applicationName?: string;
  private readonly decisionTimeoutMs: number;
  private readonly reauthMs: number;
  private readonly blockMs: number;
  private readonly maxSuffix: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly entries = new Map<string, EntryState>();
  private readonly connections = new Map<number, ConnectionState>();
  private readonly refusalLog: RefusalLog;
  private readonly counters: AuthStats = {
    authentications: 0,
    cacheHits: 0,
    joinedFlights: 0,
    timeouts: 0,
    acceptedConnects: 0,
    refusedConnects: 0,
    acceptedPublishes: 0,
    refusedPublishes: 0,
    beaconsSent: 0,
    beaconFailures: 0,
  };
  private readonly pendingBeacons = new Set<Promise<void>>();
  private lastSweep: number;
  private closed = false;

  constructor(opts: PublisherAuthOptions) {
    this.api = opts.api;
    this.impersonate = opts.impersonation === 'entry-partner';
    this.hostname = opts.hostname;
    this.applicationName = opts.applicationName;
    this.decisionTimeoutMs = opts.decisionTimeoutMs;
    this.reauthMs = opts.reauthIntervalMs ?? DEFAULT_REAUTH_INTERVAL_MS;
    this.blockMs = opts.blockMs ?? DEFAULT_BLOCK_MS;
    this.maxSuffix = opts.maxIngestSuffix ?? 3;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger;
    this.refusalLog = new RefusalLog(opts.maxRefusals ?? 100);
    this.lastSweep = this.now();
  }

  /** Decide on an RTMP connect. */
  async connect(req: ConnectRequest): Promise<AuthDecision> {
    const conn: ConnectionState = { ip: ipOf(req.remoteAddress), url: maskUrl(req.tcUrl ?? req.app) };
    this.connections.set(req.connectionId, conn);
    const app = this.applicationName;
    // Like Wowza, only the configured application exists (an instance path may follow it).
    if (app !== undefined && req.app !== app && !req.app.startsWith(`${app}/`)) {
      return this.refuse('connect', req.connectionId, conn, conn.url, new AuthError('UNKNOWN_APPLICATION', `Application not found: ${req.app}`));
    }
    const raw = argsFromConnect(req.query, req.tcUrl);
    if (!hasAnyArgument(raw)) {
      // The arguments may come with the stream name; publish decides.
      this.counters.acceptedConnects++;
      return { accept: true, via: 'deferred' };
    }
    const checked = checkArgs(raw);
    if (!checked.ok) {
      return this.refuse('connect', req.connectionId, conn, conn.url, new AuthError(checked.problem.kind === 'missing' ? 'MISSING_ARGUMENT' : 'INVALID_ARGUMENT', checked.message), raw.entryId);
    }
    conn.args = checked.args;
    try {
      const { auth, via } = await this.authenticate(checked.args);
      conn.auth = this.admitted(req.connectionId, checked.args, auth);
      this.counters.acceptedConnects++;
      return { accept: true, entryId: checked.args.entryId, via };
    } catch (err) {
      return this.refuse('connect', req.connectionId, conn, conn.url, asAuthError(err), checked.args.entryId);
    }
  }

  /** Decide on a publish of a connection this policy admitted. */
  async publish(req: PublishRequest): Promise<AuthDecision> {
    let conn = this.connections.get(req.connectionId);
    if (!conn) {
      // Connect was decided elsewhere (or before a restart of the policy): require the arguments now.
      conn = { ip: '', url: '' };
      this.connections.set(req.connectionId, conn);
    }
    const url = `${conn.url}/${req.streamName}${maskedQuery(req.query)}`;
    let via: 'kaltura' | 'cache' | undefined;
    if (!conn.auth) {
      const checked = checkArgs(argsFromQuery(req.query));
      if (!checked.ok) {
        return this.refuse('publish', req.connectionId, conn, url, new AuthError(checked.problem.kind === 'missing' ? 'MISSING_ARGUMENT' : 'INVALID_ARGUMENT', checked.message));
      }
      conn.args = checked.args;
      try {
        const result = await this.authenticate(checked.args);
        conn.auth = this.admitted(req.connectionId, checked.args, result.auth);
        via = result.via;
      } catch (err) {
        return this.refuse('publish', req.connectionId, conn, url, asAuthError(err), checked.args.entryId);
      }
    }
    const auth = conn.auth;
    const name = checkStreamName(req.streamName, auth.entryId, this.maxSuffix);
    if (!name.ok) {
      if (name.reason === 'entry-mismatch') {
        this.sendBeacon(auth.entryId, auth.serverIndex, 'INCORRECT_STREAM_NAME', req.streamName, this.impersonate ? auth.partnerId : undefined);
        return this.refuse('publish', req.connectionId, conn, url, new AuthError('INCORRECT_STREAM_NAME', name.message), auth.entryId);
      }
      return this.refuse('publish', req.connectionId, conn, url, new AuthError('INVALID_STREAM_NAME', name.message), auth.entryId);
    }
    this.counters.acceptedPublishes++;
    return { accept: true, entryId: auth.entryId, ...(via ? { via } : {}) };
  }

  /** Forget a closed connection. */
  disconnect(connectionId: number): void {
    this.connections.delete(connectionId);
  }

  /** The admitted connection, once authenticated. */
  connection(connectionId: number): AuthenticatedConnection | undefined {
    const auth = this.connections.get(connectionId)?.auth;
    return auth ? { ...auth } : undefined;
  }

  /** The entry of a connection, when its arguments were read (even if it was refused). */
  entryOf(connectionId: number): string | undefined {
    return this.connections.get(connectionId)?.args?.entryId;
  }

  /** The last refusals, oldest first. */
  refusals(): RefusalRecord[] {
    return this.refusalLog.list();
  }

  /** Refusals since start by `<stage>:<code>`, for metrics. */
  refusalTotals(): RefusalCounts {
    return this.refusalLog.totals();
  }

  stats(): AuthStats {
    return { ...this.counters };
  }

  /** Resolves when every beacon sent so far has been answered (or failed). For shutdown and tests. */
  async flushBeacons(): Promise<void> {
    while (this.pendingBeacons.size > 0) await Promise.allSettled([...this.pendingBeacons]);
  }

  /** Refuse everything from now on (shutdown). */
  close(): void {
    this.closed = true;
  }

  // -------------------------------------------------------------------------------------------

  private async authenticate(args: PublishArgs): Promise<{ auth: EntryAuth; via: 'kaltura' | 'cache' }> {
    if (this.closed) throw new AuthError('SHUTTING_DOWN', 'Server is shutting down');
    const now = this.now();
    this.sweep(now);
    const state = this.entryState(args.entryId);
    if (state.failure) {
      const elapsed = now - state.failure.at;
      if (elapsed < this.blockMs) {
        const n = Math.max(0, Math.floor(elapsed / 1000));
        const m = Math.floor(this.blockMs / 1000) - n;
        throw new AuthError(
          'BLOCKED',
          `Connection blocked due to previous error [${n}] seconds ago: ${state.failure.message}. Try to connect in ${m} seconds`,
          { kalturaCode: state.failure.code },
        );
      }
      state.failure = undefined;
    }
    const key = flightKey(args);
    const cached = state.successes.get(key);
    if (cached && now - cached.at < this.reauthMs) {
      this.counters.cacheHits++;
      this.log.debug('authentication reused', { entryId: args.entryId, ageMs: now - cached.at });
      return { auth: cached, via: 'cache' };
    }
    let flight = state.flights.get(key);
    if (flight) {
      this.counters.joinedFlights++;
    } else {
      flight = this.fly(args, state, key);
      state.flights.set(key, flight);
    }
    return { auth: await this.withDeadline(flight), via: 'kaltura' };
  }

  /** One liveStream.authenticate (plus liveStream.get for partner -5); records the outcome. */
  private async fly(args: PublishArgs, state: EntryState, key: string): Promise<EntryAuth> {
    this.counters.authentications++;
    const { entryId, token, serverIndex } = args;
    // The partner the beacon would go to; unknown until liveStream.get answers in -5 mode.
    let partner: number | undefined = args.partnerId === MEDIA_SERVER_PARTNER ? undefined : args.partnerId;
    try {
      if (this.impersonate && partner === undefined) {
        const found = await this.api.liveStreamGet(entryId);
        partner = found.partnerId;
      }
      this.log.debug('authenticating', { entryId, serverIndex, impersonate: this.impersonate ? partner : undefined });
      const entry = await this.api.liveStreamAuthenticate(entryId, token, this.hostname, serverIndex, this.impersonate ? partner : undefined, this.applicationName);
      const auth: EntryAuth = { at: this.now(), entry, partnerId: entry.partnerId ?? partner ?? args.partnerId };
      state.successes.set(key, auth);
      state.failure = undefined;
      return auth;
    } catch (err) {
      if (err instanceof KalturaApiError && err.code !== 'INVALID_KS') {
        state.failure = { at: this.now(), message: err.message, code: err.code };
        if (this.impersonate && partner === undefined) {
          // Kaltura would file the beacon under partner -5, where nobody reads it (the old
          // server's own liveStream.get failed the same way and sent nothing).
          this.log.debug('no beacon: the entry partner is unknown', { entryId, kalturaCode: err.code });
        } else {
          this.sendBeacon(entryId, serverIndex, err.code, maskToken(token), this.impersonate ? partner : undefined);
        }
        throw new AuthError('KALTURA_REFUSED', `(${entryId}) authentication failed. ${err.message} (${err.code})`, { kalturaCode: err.code, cause: err });
      }
      if (err instanceof KalturaApiError) {
        throw new AuthError('KALTURA_REFUSED', `Kaltura API refused the media server's session: ${err.message} (${err.code})`, { kalturaCode: err.code, cause: err });
      }
      throw new AuthError('KALTURA_UNAVAILABLE', `Kaltura API unavailable: ${(err as Error).message}`, { cause: err });
    } finally {
      state.flights.delete(key);
    }
  }

  private withDeadline<T>(flight: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.counters.timeouts++;
        reject(new AuthError('KALTURA_UNAVAILABLE', `Kaltura API unavailable: timeout after ${this.decisionTimeoutMs} ms`));
      }, this.decisionTimeoutMs);
      flight.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  private admitted(connectionId: number, args: PublishArgs, auth: EntryAuth): AuthenticatedConnection {
    return {
      connectionId,
      entryId: args.entryId,
      serverIndex: args.serverIndex,
      partnerId: auth.partnerId,
      entry: auth.entry,
      authenticatedAt: auth.at,
    };
  }

  private refuse(stage: 'connect' | 'publish', connectionId: number, conn: ConnectionState, url: string, error: AuthError, entryId?: string): AuthDecision {
    if (stage === 'connect') this.counters.refusedConnects++;
    else this.counters.refusedPublishes++;
    const record: RefusalRecord = { time: this.now(), url, message: error.message, ip: conn.ip, connectionId, stage, code: error.code };
    if (entryId !== undefined) record.entryId = entryId;
    if (error.kalturaCode !== undefined) record.kalturaCode = error.kalturaCode;
    this.refusalLog.add(record);
    return { accept: false, error };
  }

  private sendBeacon(entryId: string, serverIndex: number, alertType: string, parameter: string, impersonate: number | undefined): void {
    const beacon = healthBeacon(entryId, serverIndex, alertType, parameter, this.now());
    const sent = this.api
      .beaconAdd(beacon, impersonate)
      .then(
        () => {
          this.counters.beaconsSent++;
          this.log.debug('beacon sent', { entryId, alertType });
        },
        (err: unknown) => {
          // A lost beacon never affects the publisher.
          this.counters.beaconFailures++;
          this.log.warn('beacon not sent', { entryId, alertType, error: err });
        },
      )
      .finally(() => this.pendingBeacons.delete(sent));
    this.pendingBeacons.add(sent);
  }

  private entryState(entryId: string): EntryState {
    let state = this.entries.get(entryId);
    if (!state) {
      state = { successes: new Map(), flights: new Map() };
      this.entries.set(entryId, state);
    }
    return state;
  }

  /** Drop entry states that no longer hold anything live (bounded memory over months). */
  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = now;
    for (const [entryId, state] of this.entries) {
      for (const [key, auth] of state.successes) if (now - auth.at >= this.reauthMs) state.successes.delete(key);
      if (state.failure && now - state.failure.at >= this.blockMs) state.failure = undefined;
      if (!state.failure && state.successes.size === 0 && state.flights.size === 0) this.entries.delete(entryId);
    }
  }
}

function flightKey(args: PublishArgs): string {
  // A hash, so the map never holds a token in clear.
  return `${args.serverIndex}:${createHash('sha256').update(args.token).digest('base64')}`;
}

function asAuthError(err: unknown): AuthError {
  return err instanceof AuthError ? err : new AuthError('KALTURA_UNAVAILABLE', `Kaltura API unavailable: ${(err as Error).message}`, { cause: err });
}

/** `1.2.3.4:5678` → `1.2.3.4`; `[::1]:5678` → `::1`. */
export function ipOf(remoteAddress: string): string {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(remoteAddress);
  return m ? m[1] : remoteAddress;
}
