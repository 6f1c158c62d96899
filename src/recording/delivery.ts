/**
 * Delivery of one segment: find the live asset, make the file available to Kaltura (kaltura
 * mode: move it into the shared directory; eCDN mode: upload it), then
 * liveStream.appendRecording. Every durable step is persisted through `persist` before the
 * next one starts, so a retry or a restart continues where the last one stopped.
 *
 * At most once: the item is persisted as 'sending' before appendRecording and as 'done' after
 * it answers (the queue does the latter). See classifyFailure for what is resent.
 */
import { basename, join } from 'node:path';
import type { KalturaApi } from '../kaltura/api';
import { isKalturaApiError, KalturaNetworkError } from '../kaltura/errors';
import type { KalturaDataCenterContentResource } from '../kaltura/types';
import type { LiveAssetResolver } from './asset-resolver';
import { isRecordingError } from './errors';
import { moveIntoPlace } from './file-move';
import type { DeliveryItem, DeliveryMode } from './types';
import { uploadSegment, type UploadApi } from './upload';

export type DeliveryApi = Pick<KalturaApi, 'liveStreamAppendRecording'> & UploadApi;

export interface SegmentDelivererOptions {
  mode: DeliveryMode;
  /** Kaltura mode: segments are moved to `<sharedDirectory>/<entryId>/<file name>`. */
  sharedDirectory?: string;
  /** eCDN mode: upload chunk size; default 8 MiB. */
  uploadChunkBytes?: number;
  /** Per uploadToken.upload request; default 120 s. */
  uploadTimeoutMs?: number;
  /** appendRecording request timeout; default 60 s (a timeout leaves the item uncertain). */
  appendTimeoutMs?: number;
}

export interface DeliveryHooks {
  persist: (item: DeliveryItem) => Promise<void>;
  /** Throws when the queue is stopping. */
  checkpoint: () => void;
}

export const DEFAULT_UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

export class SegmentDeliverer {
  private readonly chunkBytes: number;
  private readonly uploadTimeoutMs: number;
  private readonly appendTimeoutMs: number;

  constructor(
    private readonly api: DeliveryApi,
    private readonly assets: LiveAssetResolver,
    private readonly options: SegmentDelivererOptions,
  ) {
    if (options.mode === 'kaltura' && !options.sharedDirectory) throw new TypeError('kaltura mode needs a sharedDirectory');
    this.chunkBytes = Math.max(1, options.uploadChunkBytes ?? DEFAULT_UPLOAD_CHUNK_BYTES);
    this.uploadTimeoutMs = options.uploadTimeoutMs ?? 120_000;
    this.appendTimeoutMs = options.appendTimeoutMs ?? 60_000;
  }

  get mode(): DeliveryMode {
    return this.options.mode;
  }

  /** Runs the delivery up to and including appendRecording. The caller persists 'done'. */
  async deliver(item: DeliveryItem, hooks: DeliveryHooks): Promise<void> {
    // The asset first: a segment of an unknown flavor is not moved anywhere.
    const assetId = await this.assets.assetId(item.entryId, item.flavorParamsId, item.partnerId);
    hooks.checkpoint();
    const resource = await this.prepare(item, hooks);
    hooks.checkpoint();
    item.state = 'sending';
    await hooks.persist(item);
    try {
      await this.api.liveStreamAppendRecording(
        {
          entryId: item.entryId,
          assetId,
          mediaServerIndex: item.serverIndex,
          resource,
          duration: item.durationMs / 1000,
          isLastChunk: item.isLast,
        },
        item.partnerId,
        { timeoutMs: this.appendTimeoutMs },
      );
    } catch (err) {
      if (classifyFailure(err) !== 'ambiguous') {
        // Kaltura did not take it: back to pending, so a restart resends it.
        item.state = 'pending';
        await hooks.persist(item);
      }
      throw err;
    }
  }

  private async prepare(item: DeliveryItem, hooks: DeliveryHooks): Promise<KalturaDataCenterContentResource> {
    if (this.options.mode === 'kaltura') {
      const target = item.sharedPath ?? join(this.options.sharedDirectory as string, item.entryId, basename(item.path));
      await moveIntoPlace(item.path, target);
      if (item.sharedPath !== target || !item.localGone) {
        item.sharedPath = target;
        item.localGone = true;
        await hooks.persist(item);
      }
      return { objectType: 'KalturaServerFileResource', localFilePath: target };
    }
    const token = await uploadSegment(item, {
      api: this.api,
      chunkBytes: this.chunkBytes,
      timeoutMs: this.uploadTimeoutMs,
      persist: hooks.persist,
      checkpoint: hooks.checkpoint,
    });
    return { objectType: 'KalturaUploadedFileTokenResource', token };
  }
}

/**
 * What to do after a failed delivery attempt:
 * - 'permanent': retrying cannot help (the file is gone, the partner records in Kaltura
 *   itself, the entry no longer exists) → failed at once;
 * - 'ambiguous': appendRecording may have been executed (the request timed out, or HTTP 200
 *   with a body that is not Kaltura's) → not resent (at most once), the item is done and
 *   flagged uncertain;
 * - 'retry': anything else — Kaltura answered an exception (so it did not append), or the
 *   connection failed / a gateway answered 5xx. Resending after a connection reset is the one
 *   residual duplicate window: a reset after Kaltura executed the action but before its answer
 *   arrived; Kaltura's front ends answer within milliseconds of executing, so this needs a
 *   failure inside that gap.
 */
export type FailureKind = 'retry' | 'permanent' | 'ambiguous';

/**
 * The recorded entry reached Kaltura's max recorded duration (kConf
 * max_live_recording_duration_hours + 1 h; LiveEntry::getCurrentDuration marks it and refuses
 * every later chunk): nothing more of this session can be appended.
 */
export const EXCEEDED_MAX_RECORDED_DURATION = 'LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION';

const PERMANENT_KALTURA_CODES = ['KALTURA_RECORDING_ENABLED', 'ENTRY_ID_NOT_FOUND', EXCEEDED_MAX_RECORDED_DURATION];

export function classifyFailure(err: unknown): FailureKind {
  if (isRecordingError(err, 'FILE_MISSING') || isRecordingError(err, 'BAD_STREAM_NAME') || isRecordingError(err, 'FILE_NAME_TAKEN')) return 'permanent';
  if (isKalturaApiError(err) && PERMANENT_KALTURA_CODES.includes(err.code)) return 'permanent';
  if (err instanceof KalturaNetworkError && err.action.toLowerCase() === 'appendrecording') {
    if (err.code === 'TIMEOUT' || err.code === 'BAD_RESPONSE') return 'ambiguous';
  }
  return 'retry';
}
