/**
 * Typed wrappers for the Kaltura actions the media server uses. Service ids and parameter
 * names are the server's (kaltura/server api_v3/services/*, plugins/media/wowza,
 * plugins/beacon) as the official clients send them (lowercase service ids, plugin services
 * as `<plugin>_<service>`).
 *
 * `impersonate` is the partner to act for (partner -5 mode); leave it undefined in eCDN mode
 * or when calling as the KS's own partner.
 */
import type { CallOptions, KalturaClient, UploadSource } from './client';
import { BEACON_SHOULD_LOG } from './auth/beacon';
import {
  ServerNodeStatus,
  type KalturaBeacon,
  type KalturaConversionProfileAssetParams,
  type KalturaDataCenterContentResource,
  type KalturaFlavorAsset,
  type KalturaListResponse,
  type KalturaLiveEntryServerNode,
  type KalturaLiveStreamEntry,
  type KalturaLiveStreamParams,
  type KalturaMediaEntry,
  type KalturaMediaServerNode,
  type KalturaPermission,
  type KalturaUploadToken,
} from './types';

/** 0 primary, 1 backup (KalturaEntryServerNodeType, sent as its string value). */
export type MediaServerIndex = 0 | 1;

export interface AppendRecordingParams {
  entryId: string;
  /** The live flavor asset of the recorded rendition. */
  assetId: string;
  mediaServerIndex: MediaServerIndex;
  resource: KalturaDataCenterContentResource;
  /** Seconds. */
  duration: number;
  isLastChunk: boolean;
}

export interface UploadChunkParams {
  /** Append to what was already uploaded (chunked upload). */
  resume: boolean;
  /** This chunk ends the file. */
  finalChunk: boolean;
  /** Byte offset of this chunk when resuming; -1 appends at the current end. */
  resumeAt: number;
}

/** The pager used by the list wrappers: live entries have a handful of assets, never 500. */
const PAGER = { objectType: 'KalturaFilterPager', pageSize: 500, pageIndex: 1 } as const;

export class KalturaApi {
  constructor(private readonly client: KalturaClient) {}

  liveStreamGet(entryId: string, impersonate?: number): Promise<KalturaLiveStreamEntry> {
    return this.client.call('livestream', 'get', { entryId }, ro(impersonate));
  }

  /**
   * Checks the broadcast token and that `hostname` is a registered, enabled media server node
   * (else MEDIA_SERVER_NOT_FOUND). Not retried on transport errors: the encoder reconnects.
   */
  liveStreamAuthenticate(
    entryId: string,
    token: string,
    hostname: string,
    mediaServerIndex: MediaServerIndex,
    impersonate?: number,
    applicationName?: string,
  ): Promise<KalturaLiveStreamEntry> {
    return this.client.call(
      'livestream',
      'authenticate',
      { entryId, token, hostname, mediaServerIndex: String(mediaServerIndex), applicationName },
      rw(impersonate),
    );
  }

  /**
   * Tells Kaltura this server holds the entry as primary/backup with a KalturaEntryServerNodeStatus
   * (BROADCASTING 2, PLAYABLE 1); PLAYABLE must be repeated within `media_server_cache_expiry`
   * (120 s). From the primary with `shouldCreateRecordedEntry`, Kaltura creates or rotates the
   * recorded entry. Not retried here: LiveRegistration owns retries.
   */
  liveStreamRegisterMediaServer(
    p: { entryId: string; hostname: string; mediaServerIndex: MediaServerIndex; applicationName: string; liveEntryStatus: number; shouldCreateRecordedEntry: boolean },
    impersonate?: number,
  ): Promise<KalturaLiveStreamEntry> {
    return this.client.call(
      'livestream',
      'registerMediaServer',
      {
        entryId: p.entryId,
        hostname: p.hostname,
        mediaServerIndex: String(p.mediaServerIndex),
        applicationName: p.applicationName,
        liveEntryStatus: String(p.liveEntryStatus),
        shouldCreateRecordedEntry: p.shouldCreateRecordedEntry,
      },
      rw(impersonate),
    );
  }

  /** Removes the (entry, index) node; ENTRY_SERVER_NODE_NOT_FOUND when Kaltura already dropped it. */
  liveStreamUnregisterMediaServer(entryId: string, hostname: string, mediaServerIndex: MediaServerIndex, impersonate?: number): Promise<KalturaLiveStreamEntry> {
    return this.client.call('livestream', 'unregisterMediaServer', { entryId, hostname, mediaServerIndex: String(mediaServerIndex) }, rw(impersonate));
  }

  /** This server's entry-server-node of an (entry, index): entryServerNode.list filtered on both. */
  async entryServerNodeOf(entryId: string, serverType: MediaServerIndex, impersonate?: number): Promise<KalturaLiveEntryServerNode | undefined> {
    const filter = { objectType: 'KalturaLiveEntryServerNodeFilter', entryIdEqual: entryId, serverTypeEqual: String(serverType) };
    const list = await this.client.call<KalturaListResponse<KalturaLiveEntryServerNode>>('entryservernode', 'list', { filter }, ro(impersonate));
    return list.objects?.[0];
  }

  /** entryServerNode.update with the renditions this node serves (what playManifest's proxied master lists). */
  entryServerNodeUpdateStreams(id: number, streams: KalturaLiveStreamParams[], impersonate?: number): Promise<KalturaLiveEntryServerNode> {
    return this.client.call('entryservernode', 'update', { id, entryServerNode: { objectType: 'KalturaLiveEntryServerNode', streams } }, rw(impersonate));
  }

  liveStreamAppendRecording(
    p: AppendRecordingParams,
    impersonate?: number,
    opts: Pick<CallOptions, 'timeoutMs'> = {},
  ): Promise<KalturaLiveStreamEntry> {
    return this.client.call(
      'livestream',
      'appendRecording',
      {
        entryId: p.entryId,
        assetId: p.assetId,
        mediaServerIndex: String(p.mediaServerIndex),
        resource: p.resource,
        duration: p.duration,
        isLastChunk: p.isLastChunk,
      },
      { ...rw(impersonate), ...opts },
    );
  }

  /**
   * The transcoding template XML for a stream `<entryId>_<n>`. `extraParams` is the source's
   * onMetaData summary; the server json_decodes the string, so in a JSON body it is the plain
   * JSON text (URL-encoding it is only needed when it travels in a URL).
   */
  conversionProfileServe(
    streamName: string,
    hostname: string,
    extraParams?: Record<string, unknown>,
    impersonate?: number,
  ): Promise<string> {
    return this.client.callText(
      'wowza_liveconversionprofile',
      'serve',
      { streamName, hostname, extraParams: extraParams === undefined ? undefined : JSON.stringify(extraParams) },
      ro(impersonate),
    );
  }

  /**
   * Resolves true when Kaltura accepted the beacon. Always `shouldLog: 1`: without it Kaltura
   * keeps only the newest beacon per (object, event type) and the live-health panel, which
   * reads the log index, shows nothing (kaltura/server kBeacon::index).
   */
  beaconAdd(beacon: KalturaBeacon, impersonate?: number): Promise<boolean> {
    return this.client.call('beacon_beacon', 'add', { beacon, shouldLog: BEACON_SHOULD_LOG }, rw(impersonate));
  }

  /** Throws KalturaApiError (e.g. PERMISSION_NOT_FOUND) when the partner lacks the permission. */
  permissionGet(permissionName: string, impersonate?: number): Promise<KalturaPermission> {
    return this.client.call('permission', 'get', { permissionName }, ro(impersonate));
  }

  flavorAssetList(entryId: string, impersonate?: number): Promise<KalturaListResponse<KalturaFlavorAsset>> {
    return this.client.call(
      'flavorasset',
      'list',
      { filter: { objectType: 'KalturaFlavorAssetFilter', entryIdEqual: entryId }, pager: PAGER },
      ro(impersonate),
    );
  }

  conversionProfileAssetParamsList(
    conversionProfileId: number,
    impersonate?: number,
  ): Promise<KalturaListResponse<KalturaConversionProfileAssetParams>> {
    return this.client.call(
      'conversionprofileassetparams',
      'list',
      { filter: { objectType: 'KalturaConversionProfileAssetParamsFilter', conversionProfileIdEqual: conversionProfileId }, pager: PAGER },
      ro(impersonate),
    );
  }

  uploadTokenAdd(impersonate?: number, file?: { fileName?: string; fileSize?: number }): Promise<KalturaUploadToken> {
    return this.client.call(
      'uploadtoken',
      'add',
      { uploadToken: { objectType: 'KalturaUploadToken', fileName: file?.fileName, fileSize: file?.fileSize } },
      rw(impersonate),
    );
  }

  /** The token's status and uploadedFileSize (what a resumed upload continues from). */
  uploadTokenGet(uploadTokenId: string, impersonate?: number): Promise<KalturaUploadToken> {
    return this.client.call('uploadtoken', 'get', { uploadTokenId }, ro(impersonate));
  }

  uploadTokenUpload(
    uploadTokenId: string,
    file: UploadSource,
    chunk: UploadChunkParams = { resume: false, finalChunk: true, resumeAt: -1 },
    impersonate?: number,
    opts: Pick<CallOptions, 'timeoutMs'> = {},
  ): Promise<KalturaUploadToken> {
    return this.client.callUpload(
      'uploadtoken',
      'upload',
      { uploadTokenId, resume: chunk.resume, finalChunk: chunk.finalChunk, resumeAt: chunk.resumeAt },
      file,
      { ...rw(impersonate), ...opts, fileField: 'fileData' },
    );
  }

  mediaCancelReplace(entryId: string, impersonate?: number): Promise<KalturaMediaEntry> {
    return this.client.call('media', 'cancelReplace', { entryId }, rw(impersonate));
  }

  /** Registers the node when Kaltura does not know it yet; doubles as the heartbeat. */
  serverNodeReportStatus(
    hostName: string,
    serverNode: KalturaMediaServerNode,
    status: ServerNodeStatus = ServerNodeStatus.Active,
  ): Promise<KalturaMediaServerNode> {
    return this.client.call('servernode', 'reportStatus', { hostName, serverNode, serverNodeStatus: status }, rw(undefined));
  }

  serverNodeMarkOffline(serverNodeId: number | string): Promise<KalturaMediaServerNode> {
    return this.client.call('servernode', 'markOffline', { serverNodeId: String(serverNodeId) }, rw(undefined));
  }
}

function ro(impersonate: number | undefined): CallOptions {
  return { readOnly: true, impersonatePartnerId: impersonate };
}

function rw(impersonate: number | undefined): CallOptions {
  return { readOnly: false, impersonatePartnerId: impersonate };
}
