/**
 * Kaltura API objects as they travel on the wire (format=1 JSON). Only the fields
 * klive-server reads or writes are typed; Kaltura sends more.
 */

/** KalturaSessionType. */
export const SessionType = { User: 0, Admin: 2 } as const;
export type SessionType = (typeof SessionType)[keyof typeof SessionType];

/** KalturaLiveStreamEntry (fields used by the media server). */
export interface KalturaLiveStreamEntry {
  objectType: 'KalturaLiveStreamEntry';
  id: string;
  partnerId: number;
  name?: string;
  conversionProfileId?: number;
  /** KalturaRecordStatus: 0 disabled, 1 append, 2 per session. */
  recordStatus?: number;
  /** KalturaDVRStatus: 0 disabled, 1 enabled. */
  dvrStatus?: number;
  /** DVR window in minutes. */
  dvrWindow?: number;
  /** Target HLS segment duration in ms. */
  segmentDuration?: number;
  recordedEntryId?: string;
  /** KalturaLiveStreamEntry.streamName etc. are ignored. */
  [key: string]: unknown;
}

/** KalturaBeacon as sent with beacon.add. */
export interface KalturaBeacon {
  objectType: 'KalturaBeacon';
  /** KalturaBeaconObjectTypes: '4' = ENTRY_BEACON ('1' is SCHEDULE_RESOURCE_BEACON). */
  relatedObjectType: string;
  objectId: string;
  /** `<mediaServerIndex>_healthData`. */
  eventType: string;
  /** JSON text of the alert list. */
  privateData: string;
  partnerId?: number;
}

/** KalturaFlavorAsset (fields used by recording). */
export interface KalturaFlavorAsset {
  objectType: string;
  id: string;
  entryId: string;
  partnerId: number;
  flavorParamsId: number;
  tags?: string;
  status?: number;
}

/** A list response. */
export interface KalturaListResponse<T> {
  objectType: string;
  objects: T[];
  totalCount: number;
}

/** KalturaAPIException as returned with HTTP 200. */
export interface KalturaApiExceptionBody {
  objectType: 'KalturaAPIException';
  code: string;
  message: string;
  args?: Record<string, string> | unknown[];
}

/** One request inside a multirequest. */
export interface KalturaRequest {
  service: string;
  action: string;
  params?: Record<string, unknown>;
}

/** Media-server alert codes carried by beacons (the replaced server's values). */
export const AlertCode = {
  LiveStreamInvalidToken: 111,
  IncorrectStreamName: 112,
  EntryIdNotFound: 113,
  NoLivePermission: 114,
  LiveStreamExceededMaxPassthru: 115,
  LiveStreamExceededMaxTranscoded: 118,
} as const;
export type AlertCode = (typeof AlertCode)[keyof typeof AlertCode];

/** KalturaServerNodeStatus (an integer enum). */
export const ServerNodeStatus = { Active: 1, Disabled: 2, Deleted: 3, NotRegistered: 4, NotOperational: 5 } as const;
export type ServerNodeStatus = (typeof ServerNodeStatus)[keyof typeof ServerNodeStatus];

/** KalturaEntryServerNodeType: a dynamic enum, so it travels as a string ('0' primary, '1' backup). */
export const EntryServerNodeType = { LivePrimary: '0', LiveBackup: '1' } as const;
export type EntryServerNodeType = (typeof EntryServerNodeType)[keyof typeof EntryServerNodeType];

/** A key/value pair (KalturaKeyValue), e.g. in mediaServerPortConfig. */
export interface KalturaKeyValue {
  objectType: 'KalturaKeyValue';
  key: string;
  value: string;
}

/**
 * KalturaWowzaMediaServerNode as sent with serverNode.reportStatus and returned by it. Kaltura
 * keeps the Wowza name for the node type of any RTMP media server.
 */
export interface KalturaMediaServerNode {
  objectType: 'KalturaWowzaMediaServerNode' | 'KalturaMediaServerNode' | string;
  id?: number;
  partnerId?: number;
  name?: string;
  systemName?: string;
  description?: string;
  hostName?: string;
  /** KalturaServerNodeStatus. */
  status?: number;
  dc?: number;
  environment?: string;
  tags?: string;
  applicationName?: string;
  mediaServerPortConfig?: KalturaKeyValue[];
  mediaServerPlaybackDomainConfig?: KalturaKeyValue[];
  appPrefix?: string;
  transcoder?: string;
  GPUID?: number;
  liveServicePort?: number;
  liveServiceProtocol?: string;
  liveServiceInternalDomain?: string;
  heartbeatTime?: number;
  [key: string]: unknown;
}

/** KalturaPermission (permission.get). */
export interface KalturaPermission {
  objectType: 'KalturaPermission' | string;
  id?: number;
  name: string;
  /** KalturaPermissionStatus: 1 active, 2 blocked, 3 deleted. */
  status: number;
  partnerId?: number;
  [key: string]: unknown;
}

/** KalturaConversionProfileAssetParams (conversionProfileAssetParams.list). */
export interface KalturaConversionProfileAssetParams {
  objectType: 'KalturaConversionProfileAssetParams' | string;
  conversionProfileId: number;
  assetParamsId: number;
  /** KalturaAssetParamsOrigin: 0 convert, 1 ingest, 2 convert when missing. */
  origin?: number;
  systemName?: string;
  tags?: string;
  [key: string]: unknown;
}

/** KalturaUploadToken (uploadToken.add / upload). */
export interface KalturaUploadToken {
  objectType: 'KalturaUploadToken' | string;
  id: string;
  partnerId?: number;
  /** KalturaUploadTokenStatus: 0 pending, 1 partial, 2 full, 3 closed, 4 timed out, 5 deleted. */
  status?: number;
  fileName?: string;
  fileSize?: number;
  uploadedFileSize?: number;
  autoFinalize?: number;
  [key: string]: unknown;
}

/** The resource handed to liveStream.appendRecording: a file the Kaltura DC can read (kaltura mode)… */
export interface KalturaServerFileResource {
  objectType: 'KalturaServerFileResource';
  localFilePath: string;
  keepOriginalFile?: boolean;
}

/** …or a finished upload token (eCDN mode). */
export interface KalturaUploadedFileTokenResource {
  objectType: 'KalturaUploadedFileTokenResource';
  token: string;
}

export type KalturaDataCenterContentResource = KalturaServerFileResource | KalturaUploadedFileTokenResource;

/** KalturaMediaEntry (fields read after media.cancelReplace). */
export interface KalturaMediaEntry {
  objectType: string;
  id: string;
  partnerId: number;
  /** KalturaEntryReplacementStatus. */
  replacementStatus?: number;
  [key: string]: unknown;
}

/** KalturaLiveStreamParams: one rendition a media server serves (bitrate in bps, as playManifest uses it). */
export interface KalturaLiveStreamParams {
  objectType: 'KalturaLiveStreamParams';
  flavorId: string;
  bitrate: number;
  width?: number;
  height?: number;
  codec?: string;
}

/** KalturaLiveEntryServerNode (entryServerNode.list / update). */
export interface KalturaLiveEntryServerNode {
  objectType: 'KalturaLiveEntryServerNode' | string;
  id: number;
  entryId: string;
  serverNodeId?: number;
  /** KalturaEntryServerNodeType as a string: '0' primary, '1' backup. */
  serverType: string;
  status: number;
  streams?: KalturaLiveStreamParams[];
  [key: string]: unknown;
}
