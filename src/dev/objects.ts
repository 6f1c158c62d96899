/**
 * State records → Kaltura API objects (the fields the media server reads, with the enum values
 * of kaltura/server: KalturaEntryType LIVE_STREAM 7, KalturaSourceType LIVE_STREAM '32',
 * KalturaEntryStatus READY 2, KalturaMediaType LIVE_STREAM_FLASH 201, asset status READY 2,
 * KalturaPermissionType SPECIAL_FEATURE 2, KalturaPermissionStatus ACTIVE 1).
 */
import type { FixtureEntry, FixtureFlavorParams } from './fixtures';
import { liveStatus } from './live-nodes';
import { isTree, UploadedFile, type ParamNode, type ParamTree } from './params';
import type { ApiObject, ApiValue } from './serialize';
import {
  hasTag,
  isIngestOrigin,
  liveAssetId,
  type EmulatorState,
  type ServerNodeRecord,
  type UploadTokenRecord,
  type VodEntryRecord,
} from './state';

export function liveStreamEntryObject(state: EmulatorState, e: FixtureEntry): ApiObject {
  return {
    objectType: 'KalturaLiveStreamEntry',
    id: e.id,
    name: e.name,
    partnerId: e.partnerId,
    status: 2,
    type: 7,
    mediaType: 201,
    sourceType: '32',
    createdAt: state.createdAt,
    updatedAt: state.createdAt,
    conversionProfileId: e.conversionProfileId,
    recordStatus: e.recordStatus,
    dvrStatus: e.dvrStatus,
    dvrWindow: e.dvrWindow,
    segmentDuration: e.segmentDuration,
    recordedEntryId: e.recordedEntryId,
    // KalturaLiveEntry.liveStatus: the best entry-server-node status (LiveEntry::getLiveStatus).
    liveStatus: liveStatus(state, e, Date.now()),
    srtPass: e.srtPass,
    explicitLive: 0,
    streamName: `${e.id}_%i`,
  };
}

export function mediaEntryObject(v: VodEntryRecord): ApiObject {
  return {
    objectType: 'KalturaMediaEntry',
    id: v.id,
    name: v.name,
    partnerId: v.partnerId,
    type: 1,
    mediaType: 1,
    replacementStatus: v.replacementStatus,
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
  };
}

export function liveAssetObject(state: EmulatorState, e: FixtureEntry, f: FixtureFlavorParams): ApiObject {
  return {
    objectType: 'KalturaLiveAsset',
    id: liveAssetId(e.id, f.id),
    entryId: e.id,
    partnerId: e.partnerId,
    flavorParamsId: f.id,
    tags: f.tags,
    status: 2,
    isOriginal: hasTag(f, 'source'),
    width: f.width,
    height: f.height,
    bitrate: f.videoBitrate + f.audioBitrate,
    frameRate: f.frameRate ?? 0,
    videoCodecId: f.videoCodec,
    createdAt: state.createdAt,
    updatedAt: state.createdAt,
  };
}

export function conversionProfileAssetParamsObject(profileId: number, f: FixtureFlavorParams): ApiObject {
  return {
    objectType: 'KalturaConversionProfileAssetParams',
    conversionProfileId: profileId,
    assetParamsId: f.id,
    // KalturaAssetParamsOrigin: 0 CONVERT, 1 INGEST.
    origin: isIngestOrigin(f) || hasTag(f, 'source') ? 1 : 0,
    readyBehavior: 0,
    systemName: f.systemName ?? '',
    tags: f.tags,
  };
}

export function serverNodeObject(n: ServerNodeRecord): ApiObject {
  const reported = plain(n.reported);
  const o: ApiObject = { ...reported, objectType: n.objectType };
  Object.assign(o, {
    id: n.id,
    partnerId: n.partnerId,
    hostName: n.hostName,
    name: n.name,
    status: n.status,
    type: n.type,
    createdAt: n.createdAt,
    updatedAt: n.updatedAt,
    heartbeatTime: n.heartbeatTime,
    transcoder: n.transcoder,
    GPUID: n.GPUID,
  });
  return o;
}

export function uploadTokenObject(t: UploadTokenRecord): ApiObject {
  return {
    objectType: 'KalturaUploadToken',
    id: t.id,
    partnerId: t.partnerId,
    userId: t.userId,
    status: t.status,
    fileName: t.fileName,
    fileSize: t.fileSize,
    uploadedFileSize: t.data ? t.data.length : 0,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

export function permissionObject(partnerId: number, name: string): ApiObject {
  return {
    objectType: 'KalturaPermission',
    id: stableId(`${partnerId}:${name}`),
    type: 2,
    name,
    friendlyName: name,
    status: 1,
    partnerId,
  };
}

export function listResponse(objectType: string, objects: ApiObject[]): ApiObject {
  return { objectType, objects, totalCount: objects.length };
}

/** A request object param (e.g. reported server node) as plain API values. */
function plain(tree: ParamTree): Record<string, ApiValue> {
  const out: Record<string, ApiValue> = {};
  for (const [key, node] of Object.entries(tree)) {
    const v = plainNode(node);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

function plainNode(node: ParamNode): ApiValue | undefined {
  if (node instanceof UploadedFile) return undefined;
  if (isTree(node)) {
    const objectType = typeof node.objectType === 'string' ? node.objectType : 'KalturaObject';
    return { ...plain(node), objectType };
  }
  return node;
}

function stableId(text: string): number {
  let h = 0;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % 1_000_000;
}
