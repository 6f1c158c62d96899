/**
 * What the control plane reads, as small interfaces (the daemon's objects satisfy them; tests
 * and embedders may pass their own). Everything is pulled when a request asks: stats
 * snapshots of the core, the transcode pipelines, the auth policy, the Kaltura client.
 */
import type { ConnectionStatsSnapshot, HlsStoreSnapshot, HlsStreamSnapshot, ServerStatsSnapshot } from '../ingest/native';
import type { AuthenticatedConnection, AuthStats, RefusalCounts, RefusalRecord } from '../kaltura/auth';
import type { KalturaCallObserver, KalturaClientStats } from '../kaltura/client';
import type { PipelineStats } from '../transcode/pipeline';
import type { TranscodeListener } from '../transcode/orchestrator';

/** The RTMP core (RtmpIngest). */
export interface IngestSource {
  stats(): ServerStatsSnapshot;
  hlsStreams(): HlsStreamSnapshot[];
  hlsStore(): HlsStoreSnapshot;
  killConnection(connectionId: number): boolean;
  on(type: 'disconnect', listener: (event: { connectionId: number; bytesIn: number; bytesOut: number }) => void): unknown;
  off(type: 'disconnect', listener: (event: { connectionId: number; bytesIn: number; bytesOut: number }) => void): unknown;
}

/** The publisher auth policy (PublisherAuth). */
export interface AuthSource {
  refusals(): RefusalRecord[];
  refusalTotals(): RefusalCounts;
  stats(): AuthStats;
  connection(connectionId: number): AuthenticatedConnection | undefined;
  entryOf(connectionId: number): string | undefined;
}

/** The transcode orchestrator. */
export interface TranscodeSource {
  stats(): PipelineStats[];
  onEvent(listener: TranscodeListener): () => void;
}

/** The Kaltura client and the admin session. */
export interface KalturaSource {
  stats(): KalturaClientStats;
  observe(observer: KalturaCallObserver): () => void;
}

export interface AdminSessionSource {
  /** Unix seconds. */
  readonly expiresAt: number;
  readonly renewals: number;
}

/** State of one entry's recording, as the recorder reports it. */
export interface RecordingEntryStatus {
  /** e.g. `recording`, `idle`, `delivering`, `failed`. */
  state: string;
  /** Recorded renditions (stream names). */
  renditions?: string[];
  /** Current MP4 segment's start, epoch ms. */
  segmentStartedAt?: number;
  /** Segments finished and delivered / waiting / failed, for this entry. */
  delivered?: number;
  pending?: number;
  failed?: number;
  lastError?: string;
}

/**
 * Implemented by the recorder (src/recording, issue 6); until then `NO_RECORDING` answers.
 * Pull-only: the control plane asks when a request or a scrape needs it.
 */
export interface RecordingStatusSource {
  /**
   * Deliveries (appendRecording / uploads) waiting, failed since start, and of those the
   * segments refused for the entry's max recorded duration.
   */
  deliveries(): { pending: number; failed: number; exceededMaxDuration: number };
  /** Status of one entry's recording; undefined when it is not recorded. */
  entry(entryId: string): RecordingEntryStatus | undefined;
}

export const NO_RECORDING: RecordingStatusSource = {
  deliveries: () => ({ pending: 0, failed: 0, exceededMaxDuration: 0 }),
  entry: () => undefined,
};

/** What Kaltura holds about an entry live here (liveStream.registerMediaServer lifecycle). */
export interface LiveStatusSource {
  /** Best status over the entry's server indexes here; null: not registered. */
  entry(entryId: string): { kalturaStatus: 'PLAYABLE' | 'BROADCASTING' | null; lastError?: { code: string; message: string; at: number } };
  /** registerMediaServer / unregisterMediaServer calls accepted and failed since start; publishers disconnected on Kaltura's refusal. */
  counters(): { register: number; registerFailed: number; unregister: number; unregisterFailed: number; kicked: number };
}

export const NO_LIVE_STATUS: LiveStatusSource = {
  entry: () => ({ kalturaStatus: null }),
  counters: () => ({ register: 0, registerFailed: 0, unregister: 0, unregisterFailed: 0, kicked: 0 }),
};

/** Every source together (what startControlPlane takes besides its config). */
export interface ControlPlaneSources {
  ingest: IngestSource;
  auth: AuthSource;
  transcodes: TranscodeSource;
  kaltura: KalturaSource;
  session: AdminSessionSource;
}

export type { ConnectionStatsSnapshot };
