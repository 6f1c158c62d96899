/**
 * PublisherAuth: decides whether a publisher may connect and publish, with the rules of the
 * replaced Wowza module (kaltura/media-server KalturaWowzaServer modules/AuthenticationModule,
 * services/KalturaAPI, services/Constants), hardened for a port that faces the internet:
 * entry ids are public (they are in every player embed), so nothing a stranger sends may keep
 * the real encoder out or make Kaltura calls at the stranger's rate.
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
 * - Decisions are per publisher key = (URL partner, entry, server index, token), never per entry:
 *   - one Kaltura authentication per key in flight; concurrent publishers share it;
 *   - a success is reused for 10 s (KALTURA_MIN_TIME_BETWEEN_AUTHENTICATIONS);
 *   - a Kaltura refusal blocks that key only, for 30 s, with the old server's message
 *     `Connection blocked due to previous error [N] seconds ago: MSG. Try to connect in M
 *     seconds`. A wrong token therefore never blocks the right one, and a key Kaltura admitted
 *     within `staleAdmitMs` is never blocked at all (it is asked again instead: the real
 *     encoder is not kept out by a refusal that may have been transient);
 *   - ENTRY_ID_NOT_FOUND is remembered for `unknownEntryMs` per (URL partner, entry): repeated
 *     connects to an entry that does not exist cost one call (a wrong URL partner cannot make
 *     a real entry look unknown to the right one).
 * - Kaltura calls for keys not admitted recently are budgeted (attempt-budget.ts): per client
 *   network and globally. Past the budget the publisher is refused without asking Kaltura.
 * - Kaltura unreachable (network error, HTTP 5xx, timeout, the decision deadline — never a
 *   definite refusal): a key Kaltura admitted within `staleAdmitMs` whose last answer was a
 *   success is admitted from that answer (`via: 'stale'`), logged, counted and announced
 *   (`stale` event). Such connections are re-checked as soon as Kaltura answers (a probe with
 *   backoff while it does not, then every pending key): a success confirms them, a refusal
 *   revokes them (`revoked` event: the daemon closes the connection).
 * - A Kaltura refusal sends a health beacon (beacon.ts) as the entry's partner; so does a
 *   stream name of another entry (INCORRECT_STREAM_NAME, parameter = the stream name).
 *   Transport failures, INVALID_KS and Kaltura's internal errors say nothing about the entry:
 *   no block, no beacon.
 * - The token is masked in the beacon's `parameter` (the old server sent it in clear) and
 *   never kept in clear: keys are keyed digests (decision-store.ts).
 * - Waiting is bounded: past `decisionTimeoutMs` the request is refused with
 *   `Kaltura API unavailable: timeout after N ms` (or admitted stale); the flight goes on and
 *   its result is recorded.
 * - Only the configured RTMP application (`kLive`, optionally `kLive/<instance>`) is served, as
 *   Wowza served only its applications.
 *
 * Pure policy: the Kaltura API, the answer store and the clock are injected; no sockets here.
 * Only the decision deadline and the re-check run on real timers.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { QueryParam } from '../../ingest/native';
import { maskToken, silentLogger, type Logger } from '../../log';
import type { KalturaApi, MediaServerIndex } from '../api';
import { DecisionStore } from '../decision-store';
import { KalturaApiError } from '../errors';
import type { KalturaLiveStreamEntry } from '../types';
import { isKalturaUnreachable } from '../unreachable';
import { AttemptBudget } from './attempt-budget';
import { healthBeacon } from './beacon';
import { AuthError } from './errors';
import { argsFromConnect, argsFromQuery, checkArgs, checkStreamName, hasAnyArgument, maskedQuery, maskUrl, type PublishArgs } from './publish-args';
import { RefusalLog, type RefusalCounts, type RefusalRecord } from './refusal-log';

/** Kaltura's built-in media-server partner. */
export const MEDIA_SERVER_PARTNER = -5;
export const DEFAULT_REAUTH_INTERVAL_MS = 10_000;
export const DEFAULT_BLOCK_MS = 30_000;
export const DEFAULT_STALE_ADMIT_MS = 24 * 3600 * 1000;
export const DEFAULT_UNKNOWN_ENTRY_MS = 60_000;
export const DEFAULT_ATTEMPTS_PER_CLIENT_PER_MINUTE = 60;
export const DEFAULT_ATTEMPTS_PER_MINUTE = 600;
/** The decision store's namespace for publisher admissions. */
export const AUTH_ANSWERS = 'auth';

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
  /** Kaltura's last answers (persisted by the daemon); default: in memory, with a random key. */
  store?: DecisionStore;
  /** How old a Kaltura admission may be to admit its key while Kaltura is unreachable; 0: never. Default 24 h. */
  staleAdmitMs?: number;
  /** Kaltura authentications for keys not admitted recently, per client network per minute. Default 60. */
  attemptsPerClientPerMinute?: number;
  /** The same for all clients together. Default 600. */
  attemptsPerMinute?: number;
  /** ENTRY_ID_NOT_FOUND is reused this long per (URL partner, entry). Default 60 s. */
  unknownEntryMs?: number;
  /** First re-check of stale admissions after this long, doubling while Kaltura stays unreachable. Default 1 s. */
  recheckIntervalMs?: number;
  /** Longest interval between re-check probes. Default 15 s. */
  recheckMaxIntervalMs?: number;
  /** Refusals kept; default 100. */
  maxRefusals?: number;
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

/** How a publisher was admitted: Kaltura now, the 10 s success cache, or Kaltura's last answer while it is unreachable. */
export type AdmissionVia = 'kaltura' | 'cache' | 'stale';

export type AuthDecision =
  | { accept: true; entryId?: string; via?: AdmissionVia | 'deferred' }
  | { accept: false; error: AuthError };

/** What is known about an admitted connection. */
export interface AuthenticatedConnection {
  connectionId: number;
  entryId: string;
  serverIndex: MediaServerIndex;
  /** The entry's partner (impersonated for later calls in partner -5 mode). */
  partnerId: number;
  entry: KalturaLiveStreamEntry;
  /** Epoch ms of the Kaltura answer that admitted it. */
  authenticatedAt: number;
  via: AdmissionVia;
  /** Admitted from a stale answer and not yet confirmed by Kaltura. */
  awaitingRecheck: boolean;
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
  /** Refused by the attempt budget (no Kaltura call). */
  rateLimited: number;
  /** Refused by a 30 s block of their key or the unknown-entry cache (no Kaltura call). */
  blockedRefusals: number;
  /** Admitted from Kaltura's last answer while Kaltura was unreachable. */
  staleAdmissions: number;
  /** Stale admissions Kaltura later confirmed / refused (the connection was closed). */
  staleConfirmed: number;
  staleRevoked: number;
  /** Connections admitted stale and not re-checked yet. */
  staleAwaitingRecheck: number;
  /** Re-check calls made while stale admissions were pending. */
  staleRechecks: number;
  /** Transcode plans served from the last answer while Kaltura was unreachable. */
  stalePlans: number;
  /** Publisher keys with a stored Kaltura admission (persisted across restarts). */
  storedAdmissions: number;
}

/** Emitted by the policy (the daemon logs, records and acts on them). */
export interface PublisherAuthEvents {
  /** Admitted from Kaltura's last answer (age ms) because Kaltura is unreachable. */
  stale: [event: { connectionId: number; entryId: string; serverIndex: MediaServerIndex; ageMs: number; reason: string }];
  /** Kaltura answered the re-check of a stale admission with a success. */
  confirmed: [event: { connectionId: number; entryId: string; serverIndex: MediaServerIndex }];
  /** Kaltura refused a publisher that was admitted stale: close the connection. */
  revoked: [event: { connectionId: number; entryId: string; serverIndex: MediaServerIndex; error: AuthError }];
}

interface EntryAuth {
  at: number;
  entry: KalturaLiveStreamEntry;
  partnerId: number;
}

/** What the store keeps per key: Kaltura's last admission, and a refusal that came after it. */
interface StoredAdmission {
  entryId: string;
  serverIndex: MediaServerIndex;
  partnerId: number;
  entry: KalturaLiveStreamEntry;
  /** Epoch ms of a definite refusal after the admission: the admission is no longer used stale. */
  refusedAt?: number;
}

interface Block {
  at: number;
  message: string;
  code: string;
}

interface ConnectionState {
  ip: string;
  /** tcUrl, masked. */
  url: string;
  args?: PublishArgs;
  auth?: AuthenticatedConnection;
  /** Digest key of its publisher, once known. */
  key?: string;
  refused?: boolean;
}

/** Stale admissions waiting for Kaltura, per publisher key. */
interface PendingRecheck {
  args: PublishArgs;
  connections: Set<number>;
}

const SWEEP_INTERVAL_MS = 60_000;
const DEFAULT_RECHECK_MS = 1000;
const DEFAULT_RECHECK_MAX_MS = 15_000;
/** Keys re-checked at once once Kaltura answers again. */
const RECHECK_CONCURRENCY = 4;

export class PublisherAuth extends EventEmitter<PublisherAuthEvents> {
  private readonly api: AuthKalturaApi;
  private readonly impersonate: boolean;
  private readonly hostname: string;
  private readonly applicationName?: string;
  private readonly decisionTimeoutMs: number;
  private readonly reauthMs: number;
  private readonly blockMs: number;
  private readonly staleAdmitMs: number;
  private readonly unknownEntryMs: number;
  private readonly recheckBaseMs: number;
  private readonly recheckMaxMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly store: DecisionStore;
  private readonly budget: AttemptBudget;
  private readonly flights = new Map<string, Promise<EntryAuth>>();
  private readonly blocks = new Map<string, Block>();
  private readonly unknownEntries = new Map<string, Block>();
  private readonly pending = new Map<string, PendingRecheck>();
  private readonly connections = new Map<number, ConnectionState>();
  private readonly refusalLog: RefusalLog;
  private readonly counters = {
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
    rateLimited: 0,
    blockedRefusals: 0,
    staleAdmissions: 0,
    staleConfirmed: 0,
    staleRevoked: 0,
    staleRechecks: 0,
  };
  private readonly pendingBeacons = new Set<Promise<void>>();
  /** Entries' SRT passes by admission key, from Kaltura's answers (memory only). */
  private readonly srtPasses = new Map<string, string>();
  private recheckTimer?: NodeJS.Timeout;
  private recheckDelayMs: number;
  private rechecking = false;
  private lastSweep: number;
  private closed = false;

  constructor(opts: PublisherAuthOptions) {
    super();
    this.api = opts.api;
    this.impersonate = opts.impersonation === 'entry-partner';
    this.hostname = opts.hostname;
    this.applicationName = opts.applicationName;
    this.decisionTimeoutMs = opts.decisionTimeoutMs;
    this.reauthMs = opts.reauthIntervalMs ?? DEFAULT_REAUTH_INTERVAL_MS;
    this.blockMs = opts.blockMs ?? DEFAULT_BLOCK_MS;
    this.staleAdmitMs = opts.staleAdmitMs ?? DEFAULT_STALE_ADMIT_MS;
    this.unknownEntryMs = opts.unknownEntryMs ?? DEFAULT_UNKNOWN_ENTRY_MS;
    this.recheckBaseMs = opts.recheckIntervalMs ?? DEFAULT_RECHECK_MS;
    this.recheckMaxMs = Math.max(this.recheckBaseMs, opts.recheckMaxIntervalMs ?? DEFAULT_RECHECK_MAX_MS);
    this.recheckDelayMs = this.recheckBaseMs;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger;
    // The admissions must outlive the 10 s reuse even when stale admission is off: they also
    // say "this key was admitted recently" (never blocked, never budgeted).
    this.store = opts.store ?? DecisionStore.open({ secret: randomSecret(), maxAgeMs: admissionMemoryMs(this.staleAdmitMs), now: this.now });
    this.budget = new AttemptBudget({
      perClientPerMinute: opts.attemptsPerClientPerMinute ?? DEFAULT_ATTEMPTS_PER_CLIENT_PER_MINUTE,
      perMinute: opts.attemptsPerMinute ?? DEFAULT_ATTEMPTS_PER_MINUTE,
    });
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
      const result = await this.authenticate(checked.args, conn.ip);
      this.admit(req.connectionId, conn, checked.args, result);
      this.counters.acceptedConnects++;
      return { accept: true, entryId: checked.args.entryId, via: result.via };
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
    let via: AdmissionVia | undefined;
    if (!conn.auth) {
      const checked = checkArgs(argsFromQuery(req.query));
      if (!checked.ok) {
        return this.refuse('publish', req.connectionId, conn, url, new AuthError(checked.problem.kind === 'missing' ? 'MISSING_ARGUMENT' : 'INVALID_ARGUMENT', checked.message));
      }
      conn.args = checked.args;
      try {
        const result = await this.authenticate(checked.args, conn.ip);
        this.admit(req.connectionId, conn, checked.args, result);
        via = result.via;
      } catch (err) {
        return this.refuse('publish', req.connectionId, conn, url, asAuthError(err), checked.args.entryId);
      }
    }
    const auth = conn.auth as AuthenticatedConnection;
    const name = checkStreamName(req.streamName, auth.entryId);
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
    const conn = this.connections.get(connectionId);
    this.connections.delete(connectionId);
    if (conn?.key === undefined) return;
    const pending = this.pending.get(conn.key);
    if (!pending) return;
    pending.connections.delete(connectionId);
    if (pending.connections.size === 0) this.pending.delete(conn.key);
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

  /** The client IP of a connection (without the port), when it is known. */
  clientIp(connectionId: number): string | undefined {
    const ip = this.connections.get(connectionId)?.ip;
    return ip === '' ? undefined : ip;
  }

  /** True when this connection was refused (its other log lines can be quieter). */
  wasRefused(connectionId: number): boolean {
    return this.connections.get(connectionId)?.refused === true;
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
    let awaiting = 0;
    for (const p of this.pending.values()) awaiting += p.connections.size;
    const store = this.store.stats();
    return {
      ...this.counters,
      staleAwaitingRecheck: awaiting,
      stalePlans: store.staleUses.plan ?? 0,
      storedAdmissions: store.records[AUTH_ANSWERS] ?? 0,
    };
  }

  /** Resolves when every beacon sent so far has been answered (or failed). For shutdown and tests. */
  async flushBeacons(): Promise<void> {
    while (this.pendingBeacons.size > 0) await Promise.allSettled([...this.pendingBeacons]);
  }

  /** Refuse everything from now on (shutdown); stops the re-checks. */
  close(): void {
    this.closed = true;
    if (this.recheckTimer) clearTimeout(this.recheckTimer);
    this.recheckTimer = undefined;
  }

  // -------------------------------------------------------------------------------------------

  private async authenticate(args: PublishArgs, ip: string): Promise<{ auth: EntryAuth; via: AdmissionVia; key: string }> {
    if (this.closed) throw new AuthError('SHUTTING_DOWN', 'Server is shutting down');
    const now = this.now();
    this.sweep(now);
    const key = this.keyOf(args);
    const admitted = this.storedAdmission(key);
    const current = admitted !== undefined && admitted.value.refusedAt === undefined;
    if (admitted && current && now - admitted.at < this.reauthMs) {
      this.counters.cacheHits++;
      this.log.debug('authentication reused', { entryId: args.entryId, ageMs: now - admitted.at });
      return { auth: this.withSrtPass(key, entryAuthOf(admitted.at, admitted.value)), via: 'cache', key };
    }
    if (!admitted) {
      // Only keys Kaltura has not admitted recently can be blocked or budgeted: nothing a
      // stranger does with a wrong token reaches the real encoder's key.
      this.checkBlocks(key, args, now);
    }
    let flight = this.flights.get(key);
    if (flight) {
      this.counters.joinedFlights++;
    } else {
      if (!admitted) this.spendAttempt(ip, now);
      flight = this.fly(args, key);
    }
    try {
      return { auth: await this.withDeadline(flight), via: 'kaltura', key };
    } catch (err) {
      const error = asAuthError(err);
      const stale = error.unreachable ? this.staleAdmission(key) : undefined;
      if (!stale) throw error;
      this.counters.staleAdmissions++;
      this.store.noteStaleUse(AUTH_ANSWERS);
      return { auth: stale, via: 'stale', key };
    }
  }

  /** Refuses (BLOCKED) a key Kaltura refused within blockMs, or an entry it did not know. */
  private checkBlocks(key: string, args: PublishArgs, now: number): void {
    const found = (map: Map<string, Block>, k: string, ttl: number) => {
      const b = map.get(k);
      if (b && now - b.at >= ttl) map.delete(k);
      return b && now - b.at < ttl ? { block: b, ttl } : undefined;
    };
    const hit = found(this.blocks, key, this.blockMs) ?? found(this.unknownEntries, unknownEntryKey(args), this.unknownEntryMs);
    if (!hit) return;
    this.counters.blockedRefusals++;
    const n = Math.max(0, Math.floor((now - hit.block.at) / 1000));
    const m = Math.floor(hit.ttl / 1000) - n;
    throw new AuthError('BLOCKED', `Connection blocked due to previous error [${n}] seconds ago: ${hit.block.message}. Try to connect in ${m} seconds`, {
      kalturaCode: hit.block.code,
    });
  }

  private spendAttempt(ip: string, now: number): void {
    const check = this.budget.take(ip, now);
    if (check.ok) return;
    this.counters.rateLimited++;
    const seconds = Math.max(1, Math.ceil(check.retryInMs / 1000));
    const who = check.scope === 'client' ? `from ${ip || 'this address'}` : 'from new publishers';
    throw new AuthError('RATE_LIMITED', `Too many authentication attempts ${who}. Try to connect in ${seconds} seconds`);
  }

  /** One liveStream.authenticate (plus liveStream.get for partner -5); records the outcome. */
  private fly(args: PublishArgs, key: string): Promise<EntryAuth> {
    const flight = this.callKaltura(args, key).finally(() => this.flights.delete(key));
    this.flights.set(key, flight);
    // A flight nobody waits for any more (the deadline passed) must not be an unhandled rejection.
    flight.catch(() => undefined);
    return flight;
  }

  private async callKaltura(args: PublishArgs, key: string): Promise<EntryAuth> {
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
      // The SRT pass is a credential (the SRT passphrase): kept in memory only, never in the
      // decisions file, and added back to the answers reused from it.
      const { srtPass, ...kept } = primitiveFields(entry);
      if (typeof srtPass === 'string' && srtPass !== '') this.srtPasses.set(key, srtPass);
      else this.srtPasses.delete(key);
      const stored: StoredAdmission = { entryId, serverIndex, partnerId: auth.partnerId, entry: kept as KalturaLiveStreamEntry };
      this.store.set(AUTH_ANSWERS, key, stored, auth.at);
      this.blocks.delete(key);
      this.settleRecheck(key, undefined);
      return auth;
    } catch (err) {
      if (isKalturaUnreachable(err) || !(err instanceof KalturaApiError)) {
        throw new AuthError('KALTURA_UNAVAILABLE', `Kaltura API unavailable: ${(err as Error).message}`, { cause: err, unreachable: isKalturaUnreachable(err) });
      }
      if (err.code === 'INVALID_KS') {
        throw new AuthError('KALTURA_REFUSED', `Kaltura API refused the media server's session: ${err.message} (${err.code})`, { kalturaCode: err.code, cause: err });
      }
      const error = new AuthError('KALTURA_REFUSED', `(${entryId}) authentication failed. ${err.message} (${err.code})`, { kalturaCode: err.code, cause: err });
      this.recordRefusal(args, key, err);
      if (this.impersonate && partner === undefined) {
        // Kaltura would file the beacon under partner -5, where nobody reads it (the old
        // server's own liveStream.get failed the same way and sent nothing).
        this.log.debug('no beacon: the entry partner is unknown', { entryId, kalturaCode: err.code });
      } else {
        this.sendBeacon(entryId, serverIndex, err.code, maskToken(token), this.impersonate ? partner : undefined);
      }
      this.settleRecheck(key, error);
      throw error;
    }
  }

  /** A definite refusal: block the key unless Kaltura admitted it recently; remember unknown entries. */
  private recordRefusal(args: PublishArgs, key: string, err: KalturaApiError): void {
    const at = this.now();
    const admitted = this.storedAdmission(key);
    const block: Block = { at, message: err.message, code: err.code };
    if (admitted) {
      // Never blocked (the real encoder must not wait 30 s for a refusal that may pass), but no
      // longer admitted stale either: Kaltura's latest word on this key is no.
      this.store.set(AUTH_ANSWERS, key, { ...admitted.value, refusedAt: at }, admitted.at);
      return;
    }
    this.blocks.set(key, block);
    if (err.code === 'ENTRY_ID_NOT_FOUND') this.unknownEntries.set(unknownEntryKey(args), block);
  }

  private withDeadline<T>(flight: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.counters.timeouts++;
        reject(new AuthError('KALTURA_UNAVAILABLE', `Kaltura API unavailable: timeout after ${this.decisionTimeoutMs} ms`, { unreachable: true }));
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

  private admit(connectionId: number, conn: ConnectionState, args: PublishArgs, result: { auth: EntryAuth; via: AdmissionVia; key: string }): void {
    const { auth, via, key } = result;
    conn.key = key;
    conn.auth = {
      connectionId,
      entryId: args.entryId,
      serverIndex: args.serverIndex,
      partnerId: auth.partnerId,
      entry: auth.entry,
      authenticatedAt: auth.at,
      via,
      awaitingRecheck: via === 'stale',
    };
    if (via !== 'stale') return;
    let pending = this.pending.get(key);
    if (!pending) this.pending.set(key, (pending = { args, connections: new Set() }));
    pending.connections.add(connectionId);
    const ageMs = this.now() - auth.at;
    this.log.warn('publisher admitted from the last Kaltura decision: Kaltura is unreachable', {
      connectionId,
      entryId: args.entryId,
      serverIndex: args.serverIndex,
      decisionAgeSeconds: Math.round(ageMs / 1000),
    });
    this.emit('stale', { connectionId, entryId: args.entryId, serverIndex: args.serverIndex, ageMs, reason: 'Kaltura unreachable' });
    this.scheduleRecheck();
  }

  /** Kaltura answered for `key`: confirm (no error) or revoke its stale admissions. */
  private settleRecheck(key: string, error: AuthError | undefined): void {
    const pending = this.pending.get(key);
    if (!pending) return;
    this.pending.delete(key);
    const { entryId, serverIndex } = pending.args;
    for (const connectionId of pending.connections) {
      const conn = this.connections.get(connectionId);
      if (conn?.auth) conn.auth = { ...conn.auth, awaitingRecheck: false };
      if (error) {
        this.counters.staleRevoked++;
        if (conn) this.refusalLog.add({ time: this.now(), url: conn.url, message: error.message, ip: conn.ip, connectionId, stage: 'recheck', code: error.code, entryId, ...(error.kalturaCode ? { kalturaCode: error.kalturaCode } : {}) });
        this.log.warn('Kaltura refused a publisher admitted while it was unreachable: closing it', { connectionId, entryId, reason: error.message });
        this.emit('revoked', { connectionId, entryId, serverIndex, error });
      } else {
        this.counters.staleConfirmed++;
        this.log.info('Kaltura confirmed a publisher admitted while it was unreachable', { connectionId, entryId });
        this.emit('confirmed', { connectionId, entryId, serverIndex });
      }
    }
  }

  private scheduleRecheck(): void {
    if (this.closed || this.recheckTimer || this.rechecking || this.pending.size === 0) return;
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      void this.recheck();
    }, this.recheckDelayMs);
    this.recheckTimer.unref();
  }

  /**
   * Probe Kaltura with one pending key; when it answers (either way), re-check every other
   * pending key at once; while it does not, back off.
   */
  private async recheck(): Promise<void> {
    this.rechecking = true;
    try {
      const keys = [...this.pending.keys()];
      if (keys.length === 0 || this.closed) return;
      const answered = await this.recheckKey(keys[0]);
      if (!answered) {
        this.recheckDelayMs = Math.min(this.recheckMaxMs, this.recheckDelayMs * 2);
        return;
      }
      this.recheckDelayMs = this.recheckBaseMs;
      const rest = keys.slice(1);
      for (let i = 0; i < rest.length && !this.closed; i += RECHECK_CONCURRENCY) {
        await Promise.all(rest.slice(i, i + RECHECK_CONCURRENCY).map((k) => this.recheckKey(k)));
      }
    } finally {
      this.rechecking = false;
      this.scheduleRecheck();
    }
  }

  /** True when Kaltura answered (the key is settled), false when it is still unreachable. */
  private async recheckKey(key: string): Promise<boolean> {
    const pending = this.pending.get(key);
    if (!pending) return true;
    this.counters.staleRechecks++;
    const flight = this.flights.get(key) ?? this.fly(pending.args, key);
    try {
      await flight;
      return true;
    } catch (err) {
      if (asAuthError(err).code === 'KALTURA_UNAVAILABLE') return false;
      // INVALID_KS: our own session, not the publisher; try again later.
      return !(err instanceof AuthError && err.kalturaCode === 'INVALID_KS');
    }
  }

  /** Kaltura's last admission of `key`, if younger than staleAdmitMs. */
  /** A stored answer with the entry's SRT pass from memory (the file never has it). */
  private withSrtPass(key: string, auth: EntryAuth): EntryAuth {
    const srtPass = this.srtPasses.get(key);
    return srtPass === undefined ? auth : { ...auth, entry: { ...auth.entry, srtPass } };
  }

  private storedAdmission(key: string): { at: number; value: StoredAdmission } | undefined {
    const found = this.store.get(AUTH_ANSWERS, key, isStoredAdmission);
    if (!found || this.now() - found.at >= admissionMemoryMs(this.staleAdmitMs)) return undefined;
    return found;
  }

  /** The admission usable while Kaltura is unreachable: a success younger than staleAdmitMs with no refusal since. */
  private staleAdmission(key: string): EntryAuth | undefined {
    if (this.staleAdmitMs <= 0) return undefined;
    const found = this.storedAdmission(key);
    if (!found || found.value.refusedAt !== undefined || this.now() - found.at >= this.staleAdmitMs) return undefined;
    return this.withSrtPass(key, entryAuthOf(found.at, found.value));
  }

  private keyOf(args: PublishArgs): string {
    // A keyed digest, so neither memory nor the state file holds a token in clear.
    // The URL partner is part of it: a wrong partner (Kaltura answers ENTRY_ID_NOT_FOUND)
    // must not block the same token with the right one.
    return this.store.digest(`${args.partnerId}|${args.entryId}|${args.serverIndex}|${args.token}`);
  }

  private refuse(stage: 'connect' | 'publish', connectionId: number, conn: ConnectionState, url: string, error: AuthError, entryId?: string): AuthDecision {
    if (stage === 'connect') this.counters.refusedConnects++;
    else this.counters.refusedPublishes++;
    conn.refused = true;
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

  /** Drop what no longer holds anything (bounded memory over months and under attack). */
  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = now;
    for (const [key, block] of this.blocks) if (now - block.at >= this.blockMs) this.blocks.delete(key);
    for (const [key, block] of this.unknownEntries) if (now - block.at >= this.unknownEntryMs) this.unknownEntries.delete(key);
    this.budget.sweep(now);
  }
}

/** Per (URL partner, entry): a wrong partner must not make a real entry look unknown to the right one. */
function unknownEntryKey(args: PublishArgs): string {
  return `${args.partnerId}:${args.entryId}`;
}

function entryAuthOf(at: number, stored: StoredAdmission): EntryAuth {
  return { at, entry: stored.entry, partnerId: stored.partnerId };
}

function isStoredAdmission(value: unknown): value is StoredAdmission {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Partial<StoredAdmission>;
  return (
    typeof v.entryId === 'string' &&
    (v.serverIndex === 0 || v.serverIndex === 1) &&
    typeof v.partnerId === 'number' &&
    v.entry !== null &&
    typeof v.entry === 'object' &&
    (v.refusedAt === undefined || typeof v.refusedAt === 'number')
  );
}

/** The entry's scalar fields (what the server reads from it): keeps the stored answers small. */
function primitiveFields(entry: KalturaLiveStreamEntry): KalturaLiveStreamEntry {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) if (v === null || typeof v !== 'object') out[k] = v;
  return out as KalturaLiveStreamEntry;
}

function randomSecret(): string {
  return randomBytes(32).toString('base64');
}

/**
 * How long a Kaltura admission marks its key as the real publisher's (never blocked, never
 * budgeted): at least a day, even with stale admission off or shorter. The decision store must
 * keep admissions this long.
 */
export function admissionMemoryMs(staleAdmitMs: number): number {
  return Math.max(staleAdmitMs, DEFAULT_STALE_ADMIT_MS);
}

function asAuthError(err: unknown): AuthError {
  return err instanceof AuthError ? err : new AuthError('KALTURA_UNAVAILABLE', `Kaltura API unavailable: ${(err as Error).message}`, { cause: err, unreachable: isKalturaUnreachable(err) });
}

/** `1.2.3.4:5678` → `1.2.3.4`; `[::1]:5678` → `::1`. */
export function ipOf(remoteAddress: string): string {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(remoteAddress);
  return m ? m[1] : remoteAddress;
}
