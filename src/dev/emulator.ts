/**
 * The embedded Kaltura API emulator: a real HTTP server on Kaltura's API v3 wire format,
 * backed by in-memory state loaded from fixtures. Used by `klive-server --dev` (no external
 * backend needed) and by tests (including with Kaltura's official npm client).
 */
import { handleApiRequest } from './api-handler';
import type { EmulatorCall } from './dispatcher';
import type { EmulatorFixtures, FixtureEntry, FixtureEntryServerNode, FixtureLiveStreamParams } from './fixtures';
import { playManifest } from './play-manifest';
import { entryServerNodes, EntryServerNodeStatus, liveStatus } from './live-nodes';
import { validateFixtures } from './fixtures';
import { EmulatorError } from './errors';
import { EmulatorHttpServer, type DownMode } from './http-server';
import type { ReceivedRecordingChunk } from './received-recordings';
import { EmulatorState, MEDIA_SERVER_PARTNER_ID, type BeaconRecord, type RecordingRecord, type ServerNodeRecord, type VodEntryRecord } from './state';

export interface KalturaEmulatorOptions {
  /** Bind address, default 127.0.0.1. */
  host?: string;
  /** Default 0: the OS picks a free port. */
  port?: number;
  fixtures: EmulatorFixtures;
  /** Delay before each HTTP request is answered, default 0. */
  latencyMs?: number;
  /** X-Me header value, default 'kaltura-emulator'. */
  serverName?: string;
  /**
   * Where appendRecording content is written (`<storageDir>/<entryId>/<assetId>/<n>.mp4`);
   * default: kept in memory.
   */
  storageDir?: string;
  /**
   * The live HLS delivery profile's forceProxy (DeliveryProfileLiveAppleHttp): playManifest
   * lists the backup node's renditions in the primary's master, so players can fail over.
   * Default false, as Kaltura's default delivery profile.
   */
  liveDeliveryForceProxy?: boolean;
}

export interface KalturaEmulator {
  /** The serviceUrl to configure clients with, e.g. http://127.0.0.1:41234 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Every API call (multirequest sub-calls individually), oldest first; KS and secrets redacted. */
  readonly calls: readonly EmulatorCall[];
  /** Calls of one service/action (names case-insensitive). */
  callsOf(service: string, action: string): EmulatorCall[];
  /** beacon.add calls received. */
  readonly beacons: readonly BeaconRecord[];
  /** liveStream.appendRecording calls accepted. */
  readonly recordings: readonly RecordingRecord[];
  /**
   * What appendRecording received for one entry + live asset, in arrival order: content
   * (sha256, size, and the bytes or the stored file), duration, isLastChunk.
   */
  receivedRecordings(entryId: string, assetId: string): ReceivedRecordingChunk[];
  /** Grants or withdraws a partner permission (e.g. FEATURE_LIVE_STREAM_KALTURA_RECORDING). */
  setPartnerPermission(partnerId: number, permission: string, granted: boolean): void;
  /** Registered server nodes (fixtures and serverNode.reportStatus). */
  serverNodes(): ServerNodeRecord[];
  /** The bytes received so far on an upload token, or undefined if unknown / still empty. */
  uploadedBytes(uploadTokenId: string): Buffer | undefined;
  /** A copy of an entry's current state. */
  getEntry(entryId: string): FixtureEntry | undefined;
  addEntry(entry: FixtureEntry): void;
  /** Patches an entry (throws EmulatorError ENTRY_NOT_FOUND); returns the new state. */
  updateEntry(entryId: string, patch: Partial<Omit<FixtureEntry, 'id'>>): FixtureEntry;
  /** Registers an active media server node (what `--dev` does for its own host). */
  registerServerNode(hostName: string, options?: { partnerId?: number; transcoder?: string; GPUID?: number }): ServerNodeRecord;
  setRequireRegisteredMediaServer(required: boolean): void;
  /** The entry's entry-server-nodes after expiry (what Kaltura holds now), copies. */
  entryServerNodes(entryId: string): FixtureEntryServerNode[];
  /** Sets the renditions an entry-server-node reports (KalturaLiveEntryServerNode.streams); false when there is no such node. */
  setEntryServerNodeStreams(entryId: string, index: number, streams: FixtureLiveStreamParams[]): boolean;
  /** The live HLS delivery profile's forceProxy (see KalturaEmulatorOptions.liveDeliveryForceProxy). */
  setLiveDeliveryForceProxy(on: boolean): void;
  /** What liveStream.isLive answers: a PLAYABLE primary or backup node. */
  isLive(entryId: string): boolean;
  /** Partner status: 1 active, 2 content blocked, 3 fully blocked (live calls answer SERVICE_FORBIDDEN_CONTENT_BLOCKED). */
  setPartnerStatus(partnerId: number, status: number): void;
  /** Deletes a live entry (calls about it answer ENTRY_ID_NOT_FOUND). */
  deleteEntry(entryId: string): void;
  /** `media_server_cache_expiry` in ms (default 120000): nodes not updated for longer are removed. */
  setEntryServerNodeExpiry(ms: number): void;
  /** `live_session_reconnect_timeout` in ms (default 180000): PER_SESSION rotation threshold. */
  setLiveSessionReconnectTimeout(ms: number): void;
  /** The recorded (VOD) entry, e.g. the live entry's recordedEntryId. */
  vodEntry(id: string): VodEntryRecord | undefined;
  /**
   * Simulates Kaltura being down: 'reset' (default) closes every connection at once,
   * 'hang' accepts requests and never answers, 'unavailable' answers HTTP 503.
   * `setDown(false)` restores service.
   */
  setDown(down: boolean, mode?: DownMode): void;
  setLatency(ms: number): void;
  stop(): Promise<void>;
}

export async function startKalturaEmulator(options: KalturaEmulatorOptions): Promise<KalturaEmulator> {
  // Re-validate: fixtures built in code get the same checks as a loaded file.
  const state = new EmulatorState(validateFixtures(options.fixtures, 'fixtures'), { storageDir: options.storageDir });
  state.liveDeliveryForceProxy = options.liveDeliveryForceProxy ?? false;
  const calls: EmulatorCall[] = [];
  const host = options.host ?? '127.0.0.1';
  const http = await EmulatorHttpServer.start({
    host,
    port: options.port ?? 0,
    latencyMs: options.latencyMs ?? 0,
    serverName: options.serverName ?? 'kaltura-emulator',
    handle: (req) => handleApiRequest(state, req, (call) => calls.push(call)),
    handlePlayManifest: (url) => playManifest(state, url, Date.now(), { forceProxy: state.liveDeliveryForceProxy }),
  });
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return new Emulator(state, http, calls, `http://${urlHost}:${http.port}`);
}

class Emulator implements KalturaEmulator {
  constructor(
    private readonly state: EmulatorState,
    private readonly http: EmulatorHttpServer,
    readonly calls: EmulatorCall[],
    readonly url: string,
  ) {}

  get port(): number {
    return this.http.port;
  }

  get beacons(): readonly BeaconRecord[] {
    return this.state.beacons;
  }

  get recordings(): readonly RecordingRecord[] {
    return this.state.recordings;
  }

  receivedRecordings(entryId: string, assetId: string): ReceivedRecordingChunk[] {
    return this.state.received.of(entryId, assetId);
  }

  setPartnerPermission(partnerId: number, permission: string, granted: boolean): void {
    const partner = this.state.partners.get(partnerId);
    if (!partner) throw new EmulatorError('FIXTURES_INVALID', `partner ${partnerId} is unknown`);
    partner.permissions = partner.permissions.filter((p) => p !== permission);
    if (granted) partner.permissions.push(permission);
  }

  callsOf(service: string, action: string): EmulatorCall[] {
    const s = service.toLowerCase();
    const a = action.toLowerCase();
    return this.calls.filter((c) => c.service.toLowerCase() === s && c.action.toLowerCase() === a);
  }

  serverNodes(): ServerNodeRecord[] {
    return [...this.state.serverNodes.values()].map((n) => ({ ...n }));
  }

  uploadedBytes(uploadTokenId: string): Buffer | undefined {
    const data = this.state.uploadTokens.get(uploadTokenId)?.data;
    return data ? Buffer.from(data) : undefined;
  }

  getEntry(entryId: string): FixtureEntry | undefined {
    const e = this.state.entries.get(entryId);
    return e ? { ...e, mediaServerNodes: e.mediaServerNodes?.map((n) => ({ ...n })) } : undefined;
  }

  addEntry(entry: FixtureEntry): void {
    this.state.addEntry(entry);
  }

  updateEntry(entryId: string, patch: Partial<Omit<FixtureEntry, 'id'>>): FixtureEntry {
    return this.state.updateEntry(entryId, patch);
  }

  registerServerNode(hostName: string, options: { partnerId?: number; transcoder?: string; GPUID?: number } = {}): ServerNodeRecord {
    const partnerId = options.partnerId ?? MEDIA_SERVER_PARTNER_ID;
    const existing = this.state.activeServerNode(hostName, partnerId);
    if (existing) {
      existing.status = 1;
      return { ...existing };
    }
    return { ...this.state.addServerNode({ partnerId, hostName, name: hostName, status: 1, transcoder: options.transcoder, GPUID: options.GPUID }) };
  }

  setRequireRegisteredMediaServer(required: boolean): void {
    this.state.requireRegisteredMediaServer = required;
  }

  entryServerNodes(entryId: string): FixtureEntryServerNode[] {
    const entry = this.state.entries.get(entryId);
    return entry ? entryServerNodes(this.state, entry, Date.now()).map((n) => ({ ...n })) : [];
  }

  setEntryServerNodeStreams(entryId: string, index: number, streams: FixtureLiveStreamParams[]): boolean {
    const entry = this.state.entries.get(entryId);
    const node = entry ? entryServerNodes(this.state, entry, Date.now()).find((n) => n.index === index) : undefined;
    if (!node) return false;
    node.streams = streams.map((s) => ({ ...s }));
    return true;
  }

  setLiveDeliveryForceProxy(on: boolean): void {
    this.state.liveDeliveryForceProxy = on;
  }

  isLive(entryId: string): boolean {
    const entry = this.state.entries.get(entryId);
    return entry !== undefined && liveStatus(this.state, entry, Date.now()) === EntryServerNodeStatus.PLAYABLE;
  }

  setPartnerStatus(partnerId: number, status: number): void {
    const partner = this.state.partners.get(partnerId);
    if (!partner) throw new EmulatorError('FIXTURES_INVALID', `partner ${partnerId} is unknown`);
    partner.status = status;
  }

  deleteEntry(entryId: string): void {
    if (!this.state.entries.delete(entryId)) throw new EmulatorError('ENTRY_NOT_FOUND', `entry ${entryId} does not exist`);
  }

  setEntryServerNodeExpiry(ms: number): void {
    this.state.entryServerNodeExpiryMs = ms;
  }

  setLiveSessionReconnectTimeout(ms: number): void {
    this.state.liveSessionReconnectTimeoutMs = ms;
  }

  vodEntry(id: string): VodEntryRecord | undefined {
    const v = this.state.vodEntries.get(id);
    return v ? { ...v } : undefined;
  }

  setDown(down: boolean, mode: DownMode = 'reset'): void {
    this.http.setDown(down, mode);
  }

  setLatency(ms: number): void {
    this.http.setLatency(ms);
  }

  stop(): Promise<void> {
    return this.http.close();
  }
}
