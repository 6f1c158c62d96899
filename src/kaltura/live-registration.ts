/**
 * LiveRegistration keeps Kaltura's entry-server-node of every (entry, server index) this server
 * holds in step with what is live here, as the media server must (kaltura/server
 * KalturaLiveEntryService::registerMediaServer / unregisterMediaServer):
 *
 * - first publish of an (entry, index): registerMediaServer BROADCASTING (2);
 * - once every rendition of the entry's streams has a first HLS segment: PLAYABLE (1);
 * - PLAYABLE again every `refreshMs` (Kaltura drops a node not refreshed for 120 s);
 * - last stream of the (entry, index) gone and not back within `graceMs`: unregisterMediaServer;
 *   at shutdown at once. ENTRY_SERVER_NODE_NOT_FOUND there means Kaltura already dropped it.
 * - SERVICE_FORBIDDEN_CONTENT_BLOCKED (partner blocked) or ENTRY_ID_NOT_FOUND (entry deleted)
 *   end the publish: `kick` gets the publishers' connection ids.
 *
 * Kaltura being down or slow never touches media: calls are never awaited by the ingest path.
 * Per (entry, index) at most one call is in flight; the state wanted meanwhile is coalesced and
 * sent when it returns. Failures retry with a doubling delay capped at `retryMaxMs` (never
 * longer than one refresh), so the registration catches up within one heartbeat of Kaltura
 * answering again. Clock and API are injected (unit tests drive them).
 */
import type { KalturaApi, MediaServerIndex } from './api';
import { isKalturaApiError } from './errors';
import { silentLogger, type Logger } from '../log';

/** KalturaEntryServerNodeStatus values this server sends. */
export const LiveEntryStatus = { PLAYABLE: 1, BROADCASTING: 2 } as const;
export type LiveEntryStatusValue = (typeof LiveEntryStatus)[keyof typeof LiveEntryStatus];

/** Answers that mean the publish must end (partner blocked, entry deleted while live). */
const ENDS_PUBLISH = new Set(['SERVICE_FORBIDDEN_CONTENT_BLOCKED', 'ENTRY_ID_NOT_FOUND']);
/** unregisterMediaServer answers that mean there is nothing (left) to unregister. */
const NOTHING_TO_UNREGISTER = new Set(['ENTRY_SERVER_NODE_NOT_FOUND', 'ENTRY_ID_NOT_FOUND', 'SERVICE_FORBIDDEN_CONTENT_BLOCKED', 'SERVER_NODE_NOT_FOUND']);

export type RegistrationApi = Pick<KalturaApi, 'liveStreamRegisterMediaServer' | 'liveStreamUnregisterMediaServer'>;

export interface RegistrationClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: RegistrationClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface LiveRegistrationOptions {
  api: RegistrationApi;
  /** This server's node hostName (as registered with serverNode.reportStatus). */
  hostname: string;
  applicationName: string;
  /** Whether the renditions (HLS stream names) all have a first segment. */
  isPlayable: (renditions: readonly string[]) => boolean;
  /**
   * Whether a stream still has its publisher. Checked at each refresh: a stream whose end was
   * never reported (its admission came too late for the core, say) is then treated as ended.
   */
  isPublishing?: (streamName: string) => boolean;
  /** End these publishers' connections (the registration was refused for good). */
  kick: (connectionIds: number[], reason: Error) => void;
  /** Reconnect grace before unregistering (the recording's republish grace). */
  graceMs: number;
  /** PLAYABLE refresh interval; default 60 s. */
  refreshMs?: number;
  /** First retry delay; default 1 s, doubled per failure. */
  retryInitialMs?: number;
  /** Longest retry delay; default min(30 s, refreshMs). */
  retryMaxMs?: number;
  /** How long an unregister is retried (Kaltura drops the node itself after 120 s); default 150 s. */
  unregisterRetryForMs?: number;
  /** How often waiting entries are checked for their first segments; default 500 ms. */
  playableCheckMs?: number;
  /**
   * After each PLAYABLE registration Kaltura accepted (first and refreshes): the media server
   * reports the renditions it serves on its entry-server-node (not awaited; failures are the
   * callee's to log).
   */
  onPlayable?: (playable: { entryId: string; serverIndex: MediaServerIndex; renditions: string[]; impersonate?: number }) => void;
  clock?: RegistrationClock;
  log?: Logger;
}

export interface PublishedStream {
  entryId: string;
  serverIndex: MediaServerIndex;
  streamName: string;
  connectionId: number;
  /** Partner to impersonate (partner -5 mode); undefined: the KS's own partner. */
  impersonate?: number;
  /** entry.recordStatus != 0: the primary asks Kaltura to create / rotate the recorded entry. */
  records: boolean;
}

/** What Kaltura was last told for an (entry, index): 'PLAYABLE', 'BROADCASTING' or null (not registered). */
export type KalturaLiveStatus = 'PLAYABLE' | 'BROADCASTING' | null;

export interface RegistrationError {
  code: string;
  message: string;
  /** ms since the epoch. */
  at: number;
}

export interface RegistrationSnapshot {
  entryId: string;
  serverIndex: MediaServerIndex;
  kalturaStatus: KalturaLiveStatus;
  /** What this server wants Kaltura to hold. */
  wanted: 'BROADCASTING' | 'PLAYABLE' | 'UNREGISTERED';
  streams: string[];
  lastSuccessAt?: number;
  lastError?: RegistrationError;
  /** Consecutive failures. */
  failures: number;
}

/** Since start: calls Kaltura accepted / that failed, and publishers disconnected on its refusal. */
export interface RegistrationCounters {
  register: number;
  registerFailed: number;
  unregister: number;
  unregisterFailed: number;
  kicked: number;
}

type Wanted = RegistrationSnapshot['wanted'];

interface Slot {
  entryId: string;
  serverIndex: MediaServerIndex;
  impersonate?: number;
  records: boolean;
  /** streamName → publisher connection and its renditions once its pipeline runs. */
  streams: Map<string, { connectionId: number; renditions?: readonly string[] }>;
  wanted: Wanted;
  /** What Kaltura accepted last; undefined: nothing registered (or unregistered). */
  confirmed?: LiveEntryStatusValue;
  /** A register call was ever sent (an unregister is owed even if it failed). */
  sent: boolean;
  inFlight: boolean;
  refreshDue: boolean;
  failures: number;
  retryTimer?: unknown;
  refreshTimer?: unknown;
  graceTimer?: unknown;
  unregisterSince?: number;
  lastSuccessAt?: number;
  lastError?: RegistrationError;
}

/** Entries whose registration ended with an error, kept for diagnostics (bounded). */
const ENDED_KEPT = 100;

export class LiveRegistration {
  private readonly slots = new Map<string, Slot>();
  private readonly byStream = new Map<string, Slot>();
  private readonly ended = new Map<string, RegistrationError>();
  private readonly clock: RegistrationClock;
  private readonly log: Logger;
  private readonly refreshMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly unregisterRetryForMs: number;
  private readonly playableCheckMs: number;
  private pollTimer?: unknown;
  private closing = false;
  private idle?: () => void;
  private readonly count: RegistrationCounters = { register: 0, registerFailed: 0, unregister: 0, unregisterFailed: 0, kicked: 0 };

  constructor(private readonly opts: LiveRegistrationOptions) {
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? silentLogger;
    this.refreshMs = opts.refreshMs ?? 60_000;
    this.retryInitialMs = opts.retryInitialMs ?? 1000;
    this.retryMaxMs = opts.retryMaxMs ?? Math.min(30_000, this.refreshMs);
    this.unregisterRetryForMs = opts.unregisterRetryForMs ?? 150_000;
    this.playableCheckMs = opts.playableCheckMs ?? 500;
  }

  /** A stream of an (entry, index) was admitted. The first one registers BROADCASTING. */
  publish(p: PublishedStream): void {
    if (this.closing) return;
    const key = slotKey(p.entryId, p.serverIndex);
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { entryId: p.entryId, serverIndex: p.serverIndex, streams: new Map(), wanted: 'BROADCASTING', sent: false, inFlight: false, refreshDue: false, failures: 0, records: p.records };
      this.slots.set(key, slot);
    }
    slot.impersonate = p.impersonate;
    slot.records = p.records;
    slot.streams.set(p.streamName, { connectionId: p.connectionId });
    this.byStream.set(p.streamName, slot);
    if (slot.graceTimer !== undefined) {
      // Back within the grace: the registration simply continues.
      this.clock.clearTimeout(slot.graceTimer);
      slot.graceTimer = undefined;
    }
    if (slot.wanted === 'UNREGISTERED') slot.wanted = 'BROADCASTING';
    this.pump(slot);
    this.schedulePoll();
  }

  /** The stream's pipeline runs: these HLS renditions must have a segment before PLAYABLE. */
  renditions(streamName: string, renditions: readonly string[]): void {
    const stream = this.byStream.get(streamName)?.streams.get(streamName);
    if (stream) stream.renditions = [...renditions];
    this.schedulePoll();
  }

  /** A stream ended; the last one of its (entry, index) unregisters after the grace. */
  unpublish(streamName: string): void {
    const slot = this.byStream.get(streamName);
    if (!slot) return;
    this.byStream.delete(streamName);
    slot.streams.delete(streamName);
    if (slot.streams.size > 0 || slot.graceTimer !== undefined) return;
    if (this.closing || this.opts.graceMs <= 0) {
      this.unregister(slot);
      return;
    }
    slot.graceTimer = this.clock.setTimeout(() => {
      slot.graceTimer = undefined;
      if (slot.streams.size === 0) this.unregister(slot);
    }, this.opts.graceMs);
  }

  /**
   * Shutdown: unregister every (entry, index) now (no grace, no retries). Resolves when every
   * call has returned; the caller bounds the wait.
   */
  shutdown(): Promise<void> {
    this.closing = true;
    if (this.pollTimer !== undefined) this.clock.clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    for (const slot of [...this.slots.values()]) {
      slot.streams.clear();
      if (slot.graceTimer !== undefined) this.clock.clearTimeout(slot.graceTimer);
      slot.graceTimer = undefined;
      if (slot.retryTimer !== undefined) this.clock.clearTimeout(slot.retryTimer);
      slot.retryTimer = undefined;
      this.unregister(slot);
    }
    if (this.slots.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idle = resolve));
  }

  snapshot(): RegistrationSnapshot[] {
    return [...this.slots.values()].map((s) => ({
      entryId: s.entryId,
      serverIndex: s.serverIndex,
      kalturaStatus: statusName(s.confirmed),
      wanted: s.wanted,
      streams: [...s.streams.keys()],
      lastSuccessAt: s.lastSuccessAt,
      lastError: s.lastError,
      failures: s.failures,
    }));
  }

  /** An entry's Kaltura live status here (best over its indexes) and its last registration error. */
  entry(entryId: string): { kalturaStatus: KalturaLiveStatus; lastError?: RegistrationError } {
    let best: KalturaLiveStatus = null;
    let lastError = this.ended.get(entryId);
    for (const s of this.slots.values()) {
      if (s.entryId !== entryId) continue;
      const status = statusName(s.confirmed);
      if (status === 'PLAYABLE' || (status === 'BROADCASTING' && best === null)) best = status;
      if (s.lastError && (!lastError || s.lastError.at > lastError.at)) lastError = s.lastError;
    }
    return { kalturaStatus: best, ...(lastError ? { lastError } : {}) };
  }

  counters(): RegistrationCounters {
    return { ...this.count };
  }

  // -------------------------------------------------------------------------------------------

  private unregister(slot: Slot): void {
    slot.wanted = 'UNREGISTERED';
    slot.unregisterSince ??= this.clock.now();
    if (slot.refreshTimer !== undefined) this.clock.clearTimeout(slot.refreshTimer);
    slot.refreshTimer = undefined;
    this.pump(slot);
  }

  /** Sends what the slot needs next, unless a call is in flight or a retry is pending. */
  private pump(slot: Slot): void {
    if (slot.inFlight || slot.retryTimer !== undefined) return;
    if (slot.wanted === 'UNREGISTERED') {
      if (!slot.sent) {
        this.remove(slot);
        return;
      }
      void this.sendUnregister(slot);
      return;
    }
    const status = slot.wanted === 'PLAYABLE' ? LiveEntryStatus.PLAYABLE : LiveEntryStatus.BROADCASTING;
    if (slot.confirmed === status && !slot.refreshDue) return;
    void this.sendRegister(slot, status);
  }

  private async sendRegister(slot: Slot, status: LiveEntryStatusValue): Promise<void> {
    slot.inFlight = true;
    slot.sent = true;
    slot.refreshDue = false;
    try {
      await this.opts.api.liveStreamRegisterMediaServer(
        {
          entryId: slot.entryId,
          hostname: this.opts.hostname,
          mediaServerIndex: slot.serverIndex,
          applicationName: this.opts.applicationName,
          liveEntryStatus: status,
          shouldCreateRecordedEntry: slot.serverIndex === 0 && slot.records,
        },
        slot.impersonate,
      );
      this.count.register++;
      const first = slot.confirmed !== status;
      slot.confirmed = status;
      slot.failures = 0;
      slot.lastSuccessAt = this.clock.now();
      if (first || slot.lastError) {
        this.log.info('registered with Kaltura', { entryId: slot.entryId, serverIndex: slot.serverIndex, status: statusName(status) });
      }
      slot.lastError = undefined;
      this.scheduleRefresh(slot);
      if (status === LiveEntryStatus.PLAYABLE && this.opts.onPlayable) {
        const renditions = [...slot.streams.values()].flatMap((s) => s.renditions ?? []);
        this.opts.onPlayable({ entryId: slot.entryId, serverIndex: slot.serverIndex, renditions, impersonate: slot.impersonate });
      }
    } catch (error) {
      this.count.registerFailed++;
      const failure = describe(error, this.clock.now());
      slot.lastError = failure;
      slot.refreshDue = true;
      if (isKalturaApiError(error) && ENDS_PUBLISH.has(error.code)) {
        slot.inFlight = false;
        this.endPublish(slot, error);
        return;
      }
      slot.failures++;
      this.log.warn('Kaltura registration failed; retrying', { entryId: slot.entryId, serverIndex: slot.serverIndex, status: statusName(status), failures: slot.failures, error: failure });
      this.scheduleRetry(slot);
    } finally {
      slot.inFlight = false;
    }
    this.pump(slot);
  }

  private async sendUnregister(slot: Slot): Promise<void> {
    slot.inFlight = true;
    let done = true;
    try {
      await this.opts.api.liveStreamUnregisterMediaServer(slot.entryId, this.opts.hostname, slot.serverIndex, slot.impersonate);
      this.count.unregister++;
      this.log.info('unregistered from Kaltura', { entryId: slot.entryId, serverIndex: slot.serverIndex });
    } catch (error) {
      if (isKalturaApiError(error) && NOTHING_TO_UNREGISTER.has(error.code)) {
        this.count.unregister++;
      } else {
        this.count.unregisterFailed++;
        slot.failures++;
        slot.lastError = describe(error, this.clock.now());
        const giveUp = this.closing || this.clock.now() - (slot.unregisterSince ?? 0) >= this.unregisterRetryForMs;
        this.log.warn(giveUp ? 'Kaltura unregistration failed; Kaltura expires the node itself' : 'Kaltura unregistration failed; retrying', {
          entryId: slot.entryId,
          serverIndex: slot.serverIndex,
          error: slot.lastError,
        });
        done = giveUp;
      }
    } finally {
      slot.inFlight = false;
    }
    slot.confirmed = undefined;
    if (slot.wanted !== 'UNREGISTERED') {
      // Republished while the call was out: register again from scratch.
      slot.sent = false;
      slot.unregisterSince = undefined;
      this.pump(slot);
      return;
    }
    if (done) {
      if (slot.lastError && slot.failures > 0) this.remember(slot.entryId, slot.lastError);
      this.remove(slot);
      return;
    }
    this.scheduleRetry(slot);
  }

  private endPublish(slot: Slot, error: Error & { code: string }): void {
    const connections = [...slot.streams.values()].map((s) => s.connectionId);
    this.count.kicked += connections.length;
    this.log.warn('Kaltura refuses the live entry; ending its publish', { entryId: slot.entryId, serverIndex: slot.serverIndex, code: error.code, connections });
    this.remember(slot.entryId, describe(error, this.clock.now()));
    for (const name of slot.streams.keys()) this.byStream.delete(name);
    slot.streams.clear();
    this.remove(slot);
    try {
      this.opts.kick(connections, error);
    } catch (kickError) {
      this.log.warn('ending the publish failed', { entryId: slot.entryId, error: kickError });
    }
  }

  private remove(slot: Slot): void {
    for (const timer of [slot.retryTimer, slot.refreshTimer, slot.graceTimer]) if (timer !== undefined) this.clock.clearTimeout(timer);
    const key = slotKey(slot.entryId, slot.serverIndex);
    if (this.slots.get(key) === slot) this.slots.delete(key);
    if (this.slots.size === 0 && this.idle) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  }

  private remember(entryId: string, error: RegistrationError): void {
    this.ended.delete(entryId);
    this.ended.set(entryId, error);
    if (this.ended.size > ENDED_KEPT) this.ended.delete(this.ended.keys().next().value as string);
  }

  private scheduleRetry(slot: Slot): void {
    if (this.closing && slot.wanted !== 'UNREGISTERED') return;
    const delay = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** Math.max(0, slot.failures - 1));
    slot.retryTimer = this.clock.setTimeout(() => {
      slot.retryTimer = undefined;
      this.pump(slot);
    }, delay);
  }

  private scheduleRefresh(slot: Slot): void {
    if (slot.refreshTimer !== undefined) this.clock.clearTimeout(slot.refreshTimer);
    slot.refreshTimer = this.clock.setTimeout(() => {
      slot.refreshTimer = undefined;
      if (this.opts.isPublishing) for (const name of [...slot.streams.keys()]) if (!this.opts.isPublishing(name)) this.unpublish(name);
      if (slot.wanted === 'UNREGISTERED') return;
      slot.refreshDue = true;
      this.pump(slot);
    }, this.refreshMs);
  }

  /** Polls the HLS stats while some (entry, index) waits for its first segments. */
  private schedulePoll(): void {
    if (this.pollTimer !== undefined || this.closing) return;
    if (![...this.slots.values()].some((s) => s.wanted === 'BROADCASTING')) return;
    this.pollTimer = this.clock.setTimeout(() => {
      this.pollTimer = undefined;
      this.checkPlayable();
      this.schedulePoll();
    }, this.playableCheckMs);
  }

  private checkPlayable(): void {
    for (const slot of this.slots.values()) {
      if (slot.wanted !== 'BROADCASTING' || slot.streams.size === 0) continue;
      const renditions: string[] = [];
      let known = true;
      for (const s of slot.streams.values()) {
        if (!s.renditions) known = false;
        else renditions.push(...s.renditions);
      }
      if (!known || renditions.length === 0) continue;
      let playable = false;
      try {
        playable = this.opts.isPlayable(renditions);
      } catch (error) {
        this.log.warn('HLS state unavailable', { entryId: slot.entryId, error });
      }
      if (!playable) continue;
      slot.wanted = 'PLAYABLE';
      this.pump(slot);
    }
  }
}

function slotKey(entryId: string, serverIndex: number): string {
  return `${entryId}/${serverIndex}`;
}

function statusName(status: LiveEntryStatusValue | undefined): KalturaLiveStatus {
  if (status === LiveEntryStatus.PLAYABLE) return 'PLAYABLE';
  if (status === LiveEntryStatus.BROADCASTING) return 'BROADCASTING';
  return null;
}

function describe(error: unknown, at: number): RegistrationError {
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'ERROR';
  return { code, message: error instanceof Error ? error.message : String(error), at };
}
