/**
 * liveStream.get / authenticate / appendRecording (kaltura/server api_v3/services/
 * LiveStreamService.php and api_v3/lib/KalturaLiveEntryService.php).
 */
import { readFileSync } from 'node:fs';
import { fieldStr } from '../args';
import { apiError } from '../errors';
import type { FixtureEntry } from '../fixtures';
import { liveStreamEntryObject } from '../objects';
import { hasTag, liveAssetId } from '../state';
import { createRecordedEntry, EntryServerNodeStatus, RECORDED_LIVE, setMediaServer } from '../live-nodes';
import { findLiveEntry, isBlocked, requireLiveFeature, visibleTo, type ActionContext, type ActionSpec } from './context';
import { requireMediaServer, validateMaxStreamsNotReached, validateStreamNotAlreadyExist } from './live-server-node';
import { encryptedSrtPass } from '../srt-pass';

const findEntry = findLiveEntry;

const get: ActionSpec = {
  service: 'liveStream',
  action: 'get',
  ks: 'required',
  params: [
    { name: 'entryId', type: 'string' },
    { name: 'version', type: 'int', optional: true, default: -1 },
  ],
  handler(ctx, args) {
    requireLiveFeature(ctx);
    return liveStreamEntryObject(ctx.state, findEntry(ctx, args.str('entryId')));
  },
};

const authenticate: ActionSpec = {
  service: 'liveStream',
  action: 'authenticate',
  ks: 'required',
  params: [
    { name: 'entryId', type: 'string' },
    { name: 'token', type: 'string' },
    { name: 'hostname', type: 'string', optional: true },
    { name: 'mediaServerIndex', type: 'int', optional: true },
    { name: 'applicationName', type: 'string', optional: true },
  ],
  handler(ctx, args) {
    requireLiveFeature(ctx);
    const entryId = args.str('entryId');
    const entry = findEntry(ctx, entryId);
    if (isBlocked(ctx.state, entry.partnerId)) throw apiError('SERVICE_FORBIDDEN_CONTENT_BLOCKED');
    // LiveStreamService::authenticateAction: the stream password, or the encrypted SRT pass.
    const token = args.str('token');
    if (entry.token !== token && !(entry.srtPass && encryptedSrtPass(entry.srtPass) === token)) throw apiError('LIVE_STREAM_INVALID_TOKEN', entryId);
    const hostname = args.strOrNull('hostname');
    const index = args.intOrNull('mediaServerIndex');
    const now = Date.now();
    validateStreamNotAlreadyExist(ctx, entry, hostname, index, now);
    // Kaltura registers the entry on the media server only when both are given.
    if (hostname && index !== null) {
      requireMediaServer(ctx, hostname);
      setMediaServer(ctx.state, entry, index, hostname, EntryServerNodeStatus.AUTHENTICATED, args.strOrNull('applicationName'), now);
    }
    validateMaxStreamsNotReached(ctx.state, entry, now);
    return liveStreamEntryObject(ctx.state, entry);
  },
};

const appendRecording: ActionSpec = {
  service: 'liveStream',
  action: 'appendRecording',
  ks: 'required',
  params: [
    { name: 'entryId', type: 'string' },
    { name: 'assetId', type: 'string' },
    { name: 'mediaServerIndex', type: 'int' },
    { name: 'resource', type: 'object' },
    { name: 'duration', type: 'float' },
    { name: 'isLastChunk', type: 'bool', optional: true, default: false },
  ],
  handler(ctx, args) {
    requireLiveFeature(ctx);
    if (ctx.partnerId !== null && ctx.state.hasPermission(ctx.partnerId, 'FEATURE_LIVE_STREAM_KALTURA_RECORDING')) {
      // Kaltura formats kCurrentContext::$partner_id, the impersonated partner (empty if none).
      throw apiError('KALTURA_RECORDING_ENABLED', ctx.requestedPartnerId ?? '');
    }
    const entryId = args.str('entryId');
    const entry = findEntry(ctx, entryId);
    const assetId = args.str('assetId');
    const asset = ctx.state.flavorsOfProfile(entry.conversionProfileId).find((f) => liveAssetId(entry.id, f.id) === assetId);
    if (!asset) throw apiError('ASSET_ID_NOT_FOUND', assetId);
    const currentDuration = recordedDuration(ctx, entry, args.float('duration'));
    const resource = args.obj('resource');
    const objectType = resource ? fieldStr(resource, 'objectType') : undefined;
    if (!resource || !objectType) throw apiError('MISSING_MANDATORY_PARAMETER', 'resource');
    if (objectType !== 'KalturaServerFileResource' && objectType !== 'KalturaUploadedFileTokenResource') {
      throw apiError('INVALID_OBJECT_TYPE', objectType);
    }
    // Kaltura takes the content here (the convert job reads the file, the token's file is
    // moved away), so a missing file or an unfinished / used token fails the call.
    let content: Buffer;
    let source: { localFilePath: string } | { uploadTokenId: string };
    if (objectType === 'KalturaUploadedFileTokenResource') {
      const token = ctx.state.uploadTokens.get(fieldStr(resource, 'token') ?? '');
      if (!token || !visibleTo(ctx, token.partnerId)) throw apiError('UPLOAD_TOKEN_NOT_FOUND');
      if (token.status !== 2 || !token.data) throw apiError('UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY');
      content = token.data;
      // CLOSED: the uploaded file was consumed.
      token.status = 3;
      source = { uploadTokenId: token.id };
    } else {
      const localFilePath = fieldStr(resource, 'localFilePath');
      if (!localFilePath) throw apiError('MISSING_MANDATORY_PARAMETER', 'resource:localFilePath');
      try {
        content = readFileSync(localFilePath);
      } catch {
        // KalturaServerFileResource::toObject checks file_exists.
        throw apiError('LOCAL_FILE_NOT_FOUND', localFilePath);
      }
      source = { localFilePath };
    }
    const mediaServerIndex = args.int('mediaServerIndex');
    const duration = args.float('duration');
    const isLastChunk = args.bool('isLastChunk');
    ctx.state.recordings.push({ time: Date.now(), entryId, assetId, mediaServerIndex, resource, duration, isLastChunk });
    ctx.state.received.add({ time: Date.now(), entryId, assetId, mediaServerIndex, duration, isLastChunk, resourceType: objectType, ...source }, content);
    // The primary's chunk creates the recorded (VOD) entry when there is none yet, and marks it
    // RECORDED_LIVE (34): media-server recordings, which APPENDED never rotates.
    if (mediaServerIndex === 0) {
      const existing = entry.recordedEntryId ? ctx.state.vodEntries.get(entry.recordedEntryId) : undefined;
      const recorded = existing ?? createRecordedEntry(ctx.state, entry, Date.now(), { rotate: false });
      recorded.sourceType = RECORDED_LIVE;
      // The recorded length follows the anchor asset's chunks (the whole recording when the
      // profile has no anchor), as the convert/concat jobs make it in Kaltura.
      const anchored = ctx.state.flavorsOfProfile(entry.conversionProfileId).some((f) => hasTag(f, 'recording_anchor'));
      if (!anchored || hasTag(asset, 'recording_anchor')) recorded.lengthInMsecs = currentDuration;
    }
    return liveStreamEntryObject(ctx.state, entry);
  },
};

/**
 * LiveEntry::getCurrentDuration and the check before it in appendRecording: the recorded
 * entry's length plus this chunk, refused past the max (and for good once reached).
 */
function recordedDuration(ctx: ActionContext, entry: FixtureEntry, chunkSeconds: number): number {
  const recorded = entry.recordedEntryId ? ctx.state.vodEntries.get(entry.recordedEntryId) : undefined;
  if (recorded?.reachedMaxRecordingDuration) throw apiError('LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION', entry.id);
  const current = (recorded?.lengthInMsecs ?? 0) + Math.trunc(chunkSeconds * 1000);
  if (current > ctx.state.maxRecordingDurationMs) {
    if (recorded) recorded.reachedMaxRecordingDuration = true;
    throw apiError('LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION', entry.id);
  }
  return current;
}

export const liveStreamActions: ActionSpec[] = [get, authenticate, appendRecording];
