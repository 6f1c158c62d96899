/**
 * liveStream.registerMediaServer / unregisterMediaServer / isLive / createRecordedEntry, and the
 * checks authenticate shares with them (kaltura/server api_v3/lib/KalturaLiveEntryService.php,
 * api_v3/services/LiveStreamService.php). The node and recorded-entry rules are in live-nodes.ts.
 */
import { apiError } from '../errors';
import type { FixtureEntry } from '../fixtures';
import {
  createRecordedEntry,
  deleteEntryServerNode,
  entryServerNode,
  entryServerNodes,
  EntryServerNodeStatus,
  liveStatus,
  setMediaServer,
  shouldCreateRecordedEntry,
} from '../live-nodes';
import { liveStreamEntryObject } from '../objects';
import { hasTag, isIngestOrigin, type EmulatorState } from '../state';
import { findLiveEntry, requireLiveFeature, visibleTo, type ActionContext, type ActionSpec } from './context';

/** LiveEntry::setMediaServer: the hostname must be an active (not disabled) media server node. */
export function requireMediaServer(ctx: ActionContext, hostname: string): void {
  if (ctx.state.requireRegisteredMediaServer && !ctx.state.activeServerNode(hostname)) throw apiError('MEDIA_SERVER_NOT_FOUND', hostname);
}

/**
 * LiveStreamService::validateStreamNotAlreadyExist: the (entry, index) is BROADCASTING or
 * PLAYABLE on another registered server of another environment.
 */
export function validateStreamNotAlreadyExist(ctx: ActionContext, entry: FixtureEntry, hostname: string | null, index: number | null, now: number): void {
  if (index === null) return;
  const node = entryServerNode(ctx.state, entry, index, now);
  if (!node || (node.status !== EntryServerNodeStatus.BROADCASTING && node.status !== EntryServerNodeStatus.PLAYABLE)) return;
  const registered = ctx.state.activeServerNode(node.hostName);
  if (!registered || registered.hostName === hostname || !hostname) return;
  const current = ctx.state.activeServerNode(hostname);
  const environment = (n: typeof registered) => (typeof n.reported.environment === 'string' ? n.reported.environment : '');
  if (current && environment(current) !== environment(registered)) throw apiError('LIVE_STREAM_ALREADY_BROADCASTING', entry.id, registered.hostName);
}

/** LiveStreamService::isCloudTranscode: the profile has a flavor Kaltura transcodes (origin CONVERT). */
function isCloudTranscode(state: EmulatorState, conversionProfileId: number): boolean {
  return state.flavorsOfProfile(conversionProfileId).some((f) => !hasTag(f, 'source') && !isIngestOrigin(f));
}

/**
 * LiveStreamService::validateMaxStreamsNotReached: entries of the partner with a connected
 * node (AUTHENTICATED, BROADCASTING, PLAYABLE), this one included, against the partner's
 * pass-through and transcoded limits (transcoded only with FEATURE_KALTURA_LIVE_STREAM_TRANSCODE).
 */
export function validateMaxStreamsNotReached(state: EmulatorState, entry: FixtureEntry, now: number): void {
  const partner = state.partners.get(entry.partnerId);
  const maxPassthrough = partner?.maxLiveStreamInputs || 10;
  const maxTranscoded = state.hasPermission(entry.partnerId, 'FEATURE_KALTURA_LIVE_STREAM_TRANSCODE') ? partner?.maxLiveStreamOutputs || 10 : 0;
  const connected = [entry];
  for (const other of state.entries.values()) {
    if (other.id === entry.id || other.partnerId !== entry.partnerId) continue;
    if (entryServerNodes(state, other, now).some((n) => n.status >= EntryServerNodeStatus.PLAYABLE && n.status <= EntryServerNodeStatus.AUTHENTICATED)) connected.push(other);
  }
  let transcoded = 0;
  let passthrough = 0;
  for (const e of connected) {
    if (isCloudTranscode(state, e.conversionProfileId)) transcoded++;
    else passthrough++;
  }
  const cloud = isCloudTranscode(state, entry.conversionProfileId);
  if (cloud && transcoded > maxTranscoded) throw apiError('LIVE_STREAM_EXCEEDED_MAX_TRANSCODED', entry.id);
  if (!cloud && passthrough > maxPassthrough) throw apiError('LIVE_STREAM_EXCEEDED_MAX_PASSTHRU', entry.id);
}

/** KalturaEntryServerNodeType: LIVE_PRIMARY 0, LIVE_BACKUP 1 (others are not media-server indexes). */
function serverIndex(value: number): number {
  if (value !== 0 && value !== 1) throw apiError('INVALID_ENUM_VALUE', value, 'mediaServerIndex', 'KalturaEntryServerNodeType');
  return value;
}

function liveEntryStatus(value: number): number {
  if (value < EntryServerNodeStatus.STOPPED || value > EntryServerNodeStatus.AUTHENTICATED) {
    throw apiError('INVALID_ENUM_VALUE', value, 'liveEntryStatus', 'KalturaEntryServerNodeStatus');
  }
  return value;
}

const registerMediaServer: ActionSpec = {
  service: 'liveStream',
  action: 'registerMediaServer',
  ks: 'required',
  params: [
    { name: 'entryId', type: 'string' },
    { name: 'hostname', type: 'string' },
    { name: 'mediaServerIndex', type: 'int' },
    { name: 'applicationName', type: 'string', optional: true },
    { name: 'liveEntryStatus', type: 'int', optional: true, default: EntryServerNodeStatus.PLAYABLE },
    { name: 'shouldCreateRecordedEntry', type: 'bool', optional: true, default: true },
  ],
  handler(ctx, args) {
    requireLiveFeature(ctx);
    const entry = findLiveEntry(ctx, args.str('entryId'));
    const hostname = args.str('hostname');
    const index = serverIndex(args.int('mediaServerIndex'));
    const status = liveEntryStatus(args.int('liveEntryStatus'));
    const now = Date.now();
    requireMediaServer(ctx, hostname);
    setMediaServer(ctx.state, entry, index, hostname, status, args.strOrNull('applicationName'), now);
    if (args.bool('shouldCreateRecordedEntry') && shouldCreateRecordedEntry(ctx.state, entry, index, status, true, now)) {
      createRecordedEntry(ctx.state, entry, now, { rotate: true });
    }
    return liveStreamEntryObject(ctx.state, entry);
  },
};

const unregisterMediaServer: ActionSpec = {
  service: 'liveStream',
  action: 'unregisterMediaServer',
  ks: 'required',
  params: [
    { name: 'entryId', type: 'string' },
    { name: 'hostname', type: 'string' },
    { name: 'mediaServerIndex', type: 'int' },
  ],
  handler(ctx, args) {
    requireLiveFeature(ctx);
    const entry = findLiveEntry(ctx, args.str('entryId'));
    const hostname = args.str('hostname');
    const index = args.int('mediaServerIndex');
    if (!ctx.state.activeServerNode(hostname)) throw apiError('SERVER_NODE_NOT_FOUND', hostname);
    const now = Date.now();
    if (!entryServerNode(ctx.state, entry, index, now)) throw apiError('ENTRY_SERVER_NODE_NOT_FOUND', entry.id, index);
    deleteEntryServerNode(ctx.state, entry, index, now);
    return liveStreamEntryObject(ctx.state, entry);
  },
};

const createRecordedEntryAction: ActionSpec = {
  service: 'liveStream',
  action: 'createRecordedEntry',
  ks: 'required',
  params: [
    { name: 'entryId', type: 'string' },
    { name: 'mediaServerIndex', type: 'int' },
    { name: 'liveEntryStatus', type: 'int' },
  ],
  handler(ctx, args) {
    requireLiveFeature(ctx);
    const entry = findLiveEntry(ctx, args.str('entryId'));
    const now = Date.now();
    if (shouldCreateRecordedEntry(ctx.state, entry, args.int('mediaServerIndex'), args.int('liveEntryStatus'), false, now)) {
      createRecordedEntry(ctx.state, entry, now, { rotate: true });
    }
    return liveStreamEntryObject(ctx.state, entry);
  },
};

/** isLive is KS-optional: without a KS the entry's own partner is assumed (initPartnerByEntryId). */
const isLive: ActionSpec = {
  service: 'liveStream',
  action: 'isLive',
  ks: 'none',
  params: [
    { name: 'id', type: 'string' },
    { name: 'protocol', type: 'string', optional: true },
  ],
  handler(ctx, args) {
    const id = args.str('id');
    const entry = ctx.state.entries.get(id);
    if (!entry || (ctx.session && !visibleTo(ctx, entry.partnerId))) throw apiError('INVALID_ENTRY_ID', id);
    return liveStatus(ctx.state, entry, Date.now()) === EntryServerNodeStatus.PLAYABLE;
  },
};

export const liveServerNodeActions: ActionSpec[] = [registerMediaServer, unregisterMediaServer, createRecordedEntryAction, isLive];
