/**
 * liveStream.get / authenticate / appendRecording (kaltura/server api_v3/services/
 * LiveStreamService.php and api_v3/lib/KalturaLiveEntryService.php).
 */
import { readFileSync } from 'node:fs';
import { fieldStr } from '../args';
import { apiError } from '../errors';
import type { FixtureEntry } from '../fixtures';
import { liveStreamEntryObject } from '../objects';
import { liveAssetId } from '../state';
import { encryptedSrtPass } from '../srt-pass';
import { requireLiveFeature, visibleTo, type ActionContext, type ActionSpec } from './context';

/** entryPeer::retrieveByPK under the partner filter: another partner's entry does not exist. */
function findEntry(ctx: ActionContext, entryId: string): FixtureEntry {
  const entry = ctx.state.entries.get(entryId);
  if (!entry || !visibleTo(ctx, entry.partnerId)) throw apiError('ENTRY_ID_NOT_FOUND', entryId);
  return entry;
}

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
    // LiveStreamService::authenticateAction: the stream password, or the encrypted SRT pass.
    const token = args.str('token');
    if (entry.token !== token && !(entry.srtPass && encryptedSrtPass(entry.srtPass) === token)) throw apiError('LIVE_STREAM_INVALID_TOKEN', entryId);
    const hostname = args.strOrNull('hostname');
    const index = args.intOrNull('mediaServerIndex');
    // Kaltura registers the entry on the media server only when both are given.
    if (hostname && index !== null) {
      if (ctx.state.requireRegisteredMediaServer && !ctx.state.activeServerNode(hostname)) {
        throw apiError('MEDIA_SERVER_NOT_FOUND', hostname);
      }
      const nodes = (entry.mediaServerNodes ?? []).filter((n) => n.index !== index);
      // KalturaEntryServerNodeStatus AUTHENTICATED = 5.
      nodes.push({ hostName: hostname, index, status: 5 });
      entry.mediaServerNodes = nodes;
    }
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
        throw apiError('FILE_DOESNT_EXIST');
      }
      source = { localFilePath };
    }
    const mediaServerIndex = args.int('mediaServerIndex');
    const duration = args.float('duration');
    const isLastChunk = args.bool('isLastChunk');
    ctx.state.recordings.push({ time: Date.now(), entryId, assetId, mediaServerIndex, resource, duration, isLastChunk });
    ctx.state.received.add({ time: Date.now(), entryId, assetId, mediaServerIndex, duration, isLastChunk, resourceType: objectType, ...source }, content);
    // The primary's first chunk creates the recorded (VOD) entry, as createRecordedEntry does.
    if (mediaServerIndex === 0) {
      if (!entry.recordedEntryId) entry.recordedEntryId = ctx.state.newEntryId();
      ctx.state.ensureVodEntry(entry.recordedEntryId, entry.partnerId, `${entry.name} (recorded)`);
    }
    return liveStreamEntryObject(ctx.state, entry);
  },
};

export const liveStreamActions: ActionSpec[] = [get, authenticate, appendRecording];
