/**
 * The emulator's in-memory database: fixtures plus what calls create (server nodes, beacons,
 * upload tokens, recordings, recorded entries, logged-out sessions). One instance per
 * running emulator; actions read and write it synchronously.
 */
import { createHash, randomBytes } from 'node:crypto';
import { EmulatorError } from './errors';
import {
  ENTRY_ID_PATTERN,
  type EmulatorFixtures,
  type FixtureConversionProfile,
  type FixtureEntry,
  type FixtureFlavorParams,
  type FixturePartner,
} from './fixtures';
import type { ParamTree } from './params';
import { KALTURA_RECORDED_LIVE, type BroadcastTimes } from './live-nodes';
import { ReceivedRecordings } from './received-recordings';

/** Kaltura's built-in media-server partner. */
export const MEDIA_SERVER_PARTNER_ID = -5;

export interface ServerNodeRecord {
  id: number;
  partnerId: number;
  hostName: string;
  name: string;
  /** KalturaServerNodeStatus. */
  status: number;
  objectType: string;
  /** KalturaServerNodeType, e.g. 'wowza.WOWZA_MEDIA_SERVER'. */
  type: string;
  transcoder: string;
  GPUID: number;
  createdAt: number;
  updatedAt: number;
  heartbeatTime: number;
  /** Other fields the node reported (appPrefix, environment, mediaServerPortConfig …), kept as sent. */
  reported: ParamTree;
}

export interface BeaconRecord {
  time: number;
  partnerId: number | null;
  relatedObjectType: string;
  objectId: string;
  eventType: string;
  privateData: string;
  /**
   * beacon.add's `shouldLog`: only logged beacons reach Kaltura's log index, which the live
   * health panel reads (kBeacon::index); unlogged ones just overwrite the latest state.
   */
  shouldLog: boolean;
  rawData?: string;
}

export interface UploadTokenRecord {
  id: string;
  partnerId: number;
  userId: string;
  /** KalturaUploadTokenStatus: 0 pending, 1 partial, 2 full, 3 closed. */
  status: number;
  fileName: string;
  fileSize: number | null;
  createdAt: number;
  updatedAt: number;
  /** The contiguous bytes received so far; null until the first chunk. */
  data: Buffer | null;
  /** Chunks that arrived ahead of a gap (resumeAt beyond the current size). */
  pending: Map<number, Buffer>;
}

export interface RecordingRecord {
  time: number;
  entryId: string;
  assetId: string;
  mediaServerIndex: number;
  resource: ParamTree;
  duration: number;
  isLastChunk: boolean;
}

/** kaltura/server configurations/base.ini max_live_recording_duration_hours = 24, plus the hour Kaltura adds. */
export const DEFAULT_MAX_RECORDING_DURATION_MS = (24 + 1) * 3600 * 1000;

export interface VodEntryRecord {
  id: string;
  partnerId: number;
  name: string;
  /** entryReplacementStatus: 0 none. */
  replacementStatus: number;
  createdAt: number;
  updatedAt: number;
  /** createdAt in ms (the recorded-entry rotation rules compare it with broadcast times). */
  createdAtMs: number;
  /** The live entry it records (recorded entries only). */
  rootEntryId?: string;
  /** EntrySourceType; '36' KALTURA_RECORDED_LIVE for recorded entries. */
  sourceType?: string;
  /** Recorded length so far (the primary's anchor chunks appended to it), ms. */
  lengthInMsecs: number;
  /** Set once a chunk would pass the max recorded duration: every later chunk is refused. */
  reachedMaxRecordingDuration: boolean;
}

export class EmulatorState {
  readonly partners = new Map<number, FixturePartner>();
  readonly entries = new Map<string, FixtureEntry>();
  readonly profiles = new Map<number, FixtureConversionProfile>();
  readonly flavorParams = new Map<number, FixtureFlavorParams>();
  readonly serverNodes = new Map<number, ServerNodeRecord>();
  readonly beacons: BeaconRecord[] = [];
  readonly uploadTokens = new Map<string, UploadTokenRecord>();
  readonly recordings: RecordingRecord[] = [];
  readonly vodEntries = new Map<string, VodEntryRecord>();
  readonly loggedOut = new Set<string>();
  /** Per live entry: broadcast start/end times and the recorded entry index (live-nodes.ts). */
  readonly broadcasts = new Map<string, BroadcastTimes>();
  /** `media_server_cache_expiry`: an entry-server-node not updated for this long is removed. */
  entryServerNodeExpiryMs = 120_000;
  /** `live_session_reconnect_timeout`: a PER_SESSION broadcast starting later than this after the last one ended records to a new entry. */
  liveSessionReconnectTimeoutMs = 180_000;
  /** DeliveryProfileLiveAppleHttp forceProxy of the partner's live HLS delivery profile (play-manifest.ts). */
  liveDeliveryForceProxy = false;
  /** Content of every appendRecording, per entry + asset. */
  readonly received: ReceivedRecordings;
  requireRegisteredMediaServer: boolean;
  /** `(max_live_recording_duration_hours + 1) h` of kaltura/server, ms. */
  maxRecordingDurationMs: number;
  private nextServerNodeId = 1;
  private nextEntryServerNodeId = 1;
  private readonly created = nowSeconds();

  constructor(fixtures: EmulatorFixtures, options: { storageDir?: string } = {}) {
    this.received = new ReceivedRecordings(options.storageDir);
    for (const p of fixtures.partners) this.partners.set(p.id, { ...p, permissions: [...p.permissions] });
    for (const e of fixtures.entries) this.entries.set(e.id, cloneEntry(e));
    for (const p of fixtures.conversionProfiles) this.profiles.set(p.id, { ...p, flavorParamsIds: [...p.flavorParamsIds] });
    for (const f of fixtures.flavorParams) this.flavorParams.set(f.id, { ...f });
    for (const n of fixtures.serverNodes ?? []) {
      this.addServerNode({
        id: n.id,
        partnerId: n.partnerId ?? MEDIA_SERVER_PARTNER_ID,
        hostName: n.hostName,
        name: n.name ?? n.hostName,
        status: n.status ?? 1,
        transcoder: n.transcoder,
        GPUID: n.GPUID,
      });
    }
    this.requireRegisteredMediaServer = fixtures.requireRegisteredMediaServer ?? true;
    this.maxRecordingDurationMs = fixtures.maxRecordingDurationMs ?? DEFAULT_MAX_RECORDING_DURATION_MS;
    for (const e of this.entries.values()) if (e.recordedEntryId) this.ensureVodEntry(e.recordedEntryId, e.partnerId, `${e.name} (recorded)`, { rootEntryId: e.id, sourceType: KALTURA_RECORDED_LIVE });
  }

  /** Admin secrets of a partner (Kaltura allows a comma list), or undefined if unknown. */
  adminSecretsOf(partnerId: number): string[] | undefined {
    const p = this.partners.get(partnerId);
    return p ? p.adminSecret.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
  }

  hasPermission(partnerId: number, permission: string): boolean {
    return this.partners.get(partnerId)?.permissions.includes(permission) ?? false;
  }

  /** The partner group of a partner: '*' or a list of partner ids it may act for. */
  partnerGroupOf(partnerId: number): '*' | number[] {
    const p = this.partners.get(partnerId);
    const group = p?.partnerGroup ?? (partnerId === MEDIA_SERVER_PARTNER_ID ? '*' : '');
    if (group.split(',').some((g) => g.trim() === '*')) return '*';
    return group
      .split(',')
      .map((g) => g.trim())
      .filter((g) => /^-?\d+$/.test(g))
      .map(Number);
  }

  addEntry(entry: FixtureEntry): void {
    if (!ENTRY_ID_PATTERN.test(entry.id)) throw new EmulatorError('FIXTURES_INVALID', `entry id "${entry.id}" does not match ${ENTRY_ID_PATTERN}`);
    if (this.entries.has(entry.id)) throw new EmulatorError('ENTRY_EXISTS', `entry ${entry.id} already exists`);
    if (!this.partners.has(entry.partnerId)) throw new EmulatorError('FIXTURES_INVALID', `entry ${entry.id}: partner ${entry.partnerId} is unknown`);
    this.entries.set(entry.id, cloneEntry(entry));
  }

  updateEntry(id: string, patch: Partial<Omit<FixtureEntry, 'id'>>): FixtureEntry {
    const current = this.entries.get(id);
    if (!current) throw new EmulatorError('ENTRY_NOT_FOUND', `entry ${id} does not exist`);
    const next = cloneEntry({ ...current, ...patch, id });
    this.entries.set(id, next);
    return cloneEntry(next);
  }

  flavorsOfProfile(profileId: number): FixtureFlavorParams[] {
    const profile = this.profiles.get(profileId);
    if (!profile) return [];
    return profile.flavorParamsIds
      .map((id) => this.flavorParams.get(id))
      .filter((f): f is FixtureFlavorParams => f !== undefined);
  }

  addServerNode(n: {
    id?: number;
    partnerId: number;
    hostName: string;
    name: string;
    status: number;
    objectType?: string;
    type?: string;
    transcoder?: string;
    GPUID?: number;
    reported?: ParamTree;
  }): ServerNodeRecord {
    const id = n.id ?? this.nextServerNodeId;
    this.nextServerNodeId = Math.max(this.nextServerNodeId, id + 1);
    const now = nowSeconds();
    const record: ServerNodeRecord = {
      id,
      partnerId: n.partnerId,
      hostName: n.hostName,
      name: n.name,
      status: n.status,
      objectType: n.objectType ?? 'KalturaWowzaMediaServerNode',
      type: n.type ?? 'wowza.WOWZA_MEDIA_SERVER',
      transcoder: n.transcoder ?? 'default',
      GPUID: n.GPUID ?? -1,
      createdAt: now,
      updatedAt: now,
      heartbeatTime: now,
      reported: n.reported ?? {},
    };
    this.serverNodes.set(id, record);
    return record;
  }

  newEntryServerNodeId(): number {
    return this.nextEntryServerNodeId++;
  }

  /** ServerNodePeer::retrieveActiveMediaServerNode: any node with that hostName not disabled. */
  activeServerNode(hostName: string, partnerId?: number): ServerNodeRecord | undefined {
    for (const node of this.serverNodes.values()) {
      if (node.hostName !== hostName || node.status === 2) continue;
      if (partnerId !== undefined && node.partnerId !== partnerId) continue;
      return node;
    }
    return undefined;
  }

  ensureVodEntry(id: string, partnerId: number, name: string, extra: { rootEntryId?: string; sourceType?: string; now?: number } = {}): VodEntryRecord {
    const existing = this.vodEntries.get(id);
    if (existing) return existing;
    const nowMs = extra.now ?? Date.now();
    const now = Math.floor(nowMs / 1000);
    const record: VodEntryRecord = {
      id,
      partnerId,
      name,
      replacementStatus: 0,
      createdAt: now,
      updatedAt: now,
      createdAtMs: nowMs,
      lengthInMsecs: 0,
      reachedMaxRecordingDuration: false,
      ...(extra.rootEntryId ? { rootEntryId: extra.rootEntryId } : {}),
      ...(extra.sourceType ? { sourceType: extra.sourceType } : {}),
    };
    this.vodEntries.set(id, record);
    return record;
  }

  /** A fresh `<dc>_<8 base36>` entry id not used by any entry. */
  newEntryId(): string {
    for (;;) {
      const id = `0_${base36(randomBytes(8))}`;
      if (!this.entries.has(id) && !this.vodEntries.has(id)) return id;
    }
  }

  newUploadTokenId(): string {
    return `0_${randomBytes(16).toString('hex')}`;
  }

  get createdAt(): number {
    return this.created;
  }
}

/**
 * Live asset ids are derived from entry and flavor params so that every listing and every
 * appendRecording agree on them without storing anything.
 */
export function liveAssetId(entryId: string, flavorParamsId: number): string {
  return `${entryId.slice(0, 1)}_${base36(createHash('sha1').update(`${entryId}:${flavorParamsId}`).digest())}`;
}

export function hasTag(params: FixtureFlavorParams, tag: string): boolean {
  if (tag === 'source' && params.isSource) return true;
  return params.tags
    .split(',')
    .map((t) => t.trim())
    .includes(tag);
}

/** The suffix a flavor is ingested on; the source defaults to '1' as Kaltura's live params 32. */
export function streamSuffixOf(params: FixtureFlavorParams): string | undefined {
  return params.streamSuffix ?? (hasTag(params, 'source') ? '1' : undefined);
}

/**
 * Whether the flavor is an extra ingest of a multi-bitrate encoder (origin INGEST in
 * Kaltura's flavorParamsConversionProfile). The fixtures have no origin column, so this is
 * derived: tagged 'ingest', not the source, with its own stream suffix.
 */
export function isIngestOrigin(params: FixtureFlavorParams): boolean {
  return hasTag(params, 'ingest') && !hasTag(params, 'source') && params.streamSuffix !== undefined;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function base36(bytes: Buffer): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  let out = '';
  for (let i = 0; i < 8; i++) out += alphabet[bytes[i] % 36];
  return out;
}

function cloneEntry(e: FixtureEntry): FixtureEntry {
  const copy: FixtureEntry = { ...e };
  if (e.mediaServerNodes) copy.mediaServerNodes = e.mediaServerNodes.map((n) => ({ ...n }));
  return copy;
}
