/**
 * Recording: from a finished segment file to Kaltura, crash-safe.
 *
 * The daemon:
 * 1. at publish: `policy.shouldRecord(entry, partnerId)` decides whether to ask the recorder to
 *    record (into `renditionDirectory(config.recording.directory, streamName)`);
 * 2. on every `recordingSegment` event: `queue.enqueue(event, { partnerId, serverIndex })`;
 * 3. on unpublish of a connection: `cancelReplaceOnUnpublish(api, { entryId, serverIndex, partnerId })`;
 * 4. at start `DeliveryQueue.open(...)` then `start()`, at shutdown `stop()`;
 *    `counters()` feeds metrics and diagnostics.
 */
export { DeliveryQueue, DEFAULT_RETRY_FOR_MS } from './delivery-queue';
export type { DeliveryQueueEvents, DeliveryQueueOptions } from './delivery-queue';
export { SegmentDeliverer, classifyFailure, DEFAULT_UPLOAD_CHUNK_BYTES } from './delivery';
export type { DeliveryApi, FailureKind, SegmentDelivererOptions } from './delivery';
export { LiveAssetResolver } from './asset-resolver';
export type { AssetListApi } from './asset-resolver';
export { RecordingPolicy, KALTURA_RECORDING_PERMISSION } from './policy';
export type { PermissionApi, RecordingDecision, RecordingDecisionReason, RecordingPolicyOptions } from './policy';
export { cancelReplaceOnUnpublish, hasTag, RECORDING_ANCHOR_TAG } from './cancel-replace';
export type { CancelReplaceApi, CancelReplaceOutcome, UnpublishInfo } from './cancel-replace';
export { parseRecordedStreamName, renditionDirectory } from './segment';
export type { RenditionName } from './segment';
export { Journal, JOURNAL_FILE } from './journal';
export { moveIntoPlace } from './file-move';
export { filesToDelete } from './retention';
export type { RetentionPolicy } from './retention';
export { RecordingError, isRecordingError } from './errors';
export type { RecordingErrorCode } from './errors';
export type {
  DeliveryCounters,
  DeliveryItem,
  DeliveryMode,
  DeliveryState,
  RecordingErrorEvent,
  RecordingSegmentEvent,
  SegmentEntryInfo,
  UploadProgress,
} from './types';
export { RecordingManager, RENDITION_META_FILE } from './manager';
export type { RecordingManagerOptions } from './manager';
