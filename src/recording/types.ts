/**
 * The data the recording layer works on: segment events from the Rust recorder, the entry
 * facts the daemon adds to them, and the delivery items kept in the journal.
 */
import type { MediaServerIndex } from '../kaltura/api';

/** `recordingSegment` event of the native event stream: one finished MP4 segment file. */
export interface RecordingSegmentEvent {
  type: 'recordingSegment';
  /** `<entryId>_<flavorParamsId>`, e.g. 0_demo1234_32. */
  streamName: string;
  /** The finished file: fsynced and renamed into place by the recorder. */
  path: string;
  startWallMs: number;
  durationMs: number;
  bytes: number;
  /** Closed by unpublish: the last chunk of this recording session. */
  last: boolean;
}

/** `recordingError` event: the recorder could not write a rendition. */
export interface RecordingErrorEvent {
  type: 'recordingError';
  streamName: string;
  message: string;
}

/** What the daemon knows about the publishing connection of a segment. */
export interface SegmentEntryInfo {
  /** The entry's partner, impersonated for every call (partner -5 mode); undefined in eCDN mode. */
  partnerId?: number;
  /** 0 primary, 1 backup. */
  serverIndex: MediaServerIndex;
}

/** How a segment reaches Kaltura: by path on shared storage, or uploaded (eCDN). */
export type DeliveryMode = 'kaltura' | 'ecdn';

export type DeliveryState =
  /** Waiting or being prepared (move / upload); nothing reached appendRecording yet. */
  | 'pending'
  /** appendRecording is (or may have been) sent; see DeliveryQueue for the at-most-once rule. */
  | 'sending'
  /** appendRecording answered. */
  | 'done'
  /** Given up: retry time exceeded or a permanent error. Kept on disk with its file. */
  | 'failed';

/** Upload progress of an eCDN delivery, persisted after every confirmed chunk. */
export interface UploadProgress {
  tokenId: string;
  /** Bytes Kaltura confirmed. */
  offset: number;
  fileSize: number;
}

/** One segment on its way to Kaltura: the journal's unit. */
export interface DeliveryItem {
  /** Unique, stable across restarts. */
  id: string;
  /** Enqueue order; delivery order within an asset follows it. */
  seq: number;
  entryId: string;
  partnerId?: number;
  flavorParamsId: number;
  serverIndex: MediaServerIndex;
  /** The segment file as the recorder wrote it. */
  path: string;
  bytes: number;
  durationMs: number;
  isLast: boolean;
  /** Epoch ms; the retry deadline counts from here. */
  enqueuedAt: number;
  state: DeliveryState;
  /** Kaltura mode: where the file was moved (the localFilePath sent). */
  sharedPath?: string;
  /** eCDN mode: the upload token and confirmed offset. */
  upload?: UploadProgress;
  /** Delivery attempts in this process (not persisted across restarts). */
  attempts: number;
  lastError?: string;
  /** Epoch ms of done / failed. */
  finishedAt?: number;
  /**
   * Done, but a crash (or an ambiguous failure such as a timeout) happened while
   * appendRecording was in flight, so Kaltura may or may not have it. Not resent (at most
   * once); the file is kept for an operator.
   */
  uncertain?: boolean;
  /** The local file was deleted by retention (or moved away). */
  localGone?: boolean;
}

/** Counters for metrics and diagnostics. */
export interface DeliveryCounters {
  /** Items not yet done or failed. */
  pending: number;
  delivered: number;
  failed: number;
  /** Delivered without a confirmed answer (see DeliveryItem.uncertain). */
  uncertain: number;
  /** Delivery attempts that failed (each retry counts). */
  retries: number;
  /**
   * Segments not appended because their entry exceeded Kaltura's max recorded duration
   * (LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION, and the rest of that asset's session after it).
   */
  exceededMaxDuration: number;
  lastError?: { itemId: string; entryId: string; message: string; at: number };
  /** Bytes of local segment files the queue still holds (pending plus retained). */
  localBytes: number;
}
