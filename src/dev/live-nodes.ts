/**
 * The live state of an entry as kaltura/server keeps it: one entry-server-node per (entry,
 * server index), created by liveStream.authenticate (AUTHENTICATED), moved to BROADCASTING /
 * PLAYABLE by registerMediaServer, removed by unregisterMediaServer or, when not refreshed, by
 * Kaltura's validation 120 s (`media_server_cache_expiry`) after its last update; and the
 * recorded (VOD) entry that registerMediaServer from the primary creates or rotates.
 *
 * Follows alpha/lib/model/LiveEntry.php (setMediaServer, getLiveEntryServerNode, unsetMediaServer,
 * isCacheValid, getEntryServerNodeStatusForPlayback), LiveEntryServerNode.php (postInsert /
 * postUpdate / postDelete) and api_v3/lib/KalturaLiveEntryService.php (shouldCreateRecordedEntry,
 * createRecordedEntry). Times are ms (Kaltura keeps seconds; tests shorten the timeouts).
 */
import type { FixtureEntry, FixtureEntryServerNode } from './fixtures';
import type { EmulatorState, VodEntryRecord } from './state';

/** KalturaEntryServerNodeStatus. */
export const EntryServerNodeStatus = { STOPPED: 0, PLAYABLE: 1, BROADCASTING: 2, AUTHENTICATED: 3 } as const;
/** KalturaRecordStatus. */
export const RecordStatus = { DISABLED: 0, APPENDED: 1, PER_SESSION: 2 } as const;
/** KalturaEntryServerNodeType. */
export const LIVE_PRIMARY = 0;

/** LiveEntry custom data about broadcasts (currentBroadcastStartTime, last_broadcast_end_time …), ms. */
export interface BroadcastTimes {
  currentBroadcastStartTime: number;
  lastBroadcastEndTime: number;
  firstBroadcast?: number;
  lastBroadcast?: number;
  /** recorded_entry_index: incremented each time the recorded entry id changes. */
  recordedEntryIndex: number;
  redirectEntryId?: string;
}

export function broadcastTimes(state: EmulatorState, entryId: string): BroadcastTimes {
  let times = state.broadcasts.get(entryId);
  if (!times) state.broadcasts.set(entryId, (times = { currentBroadcastStartTime: 0, lastBroadcastEndTime: 0, recordedEntryIndex: 0 }));
  return times;
}

/**
 * The entry's entry-server-nodes after Kaltura's validation: a node neither updated nor
 * refreshed as PLAYABLE within the expiry is deleted (with the side effects of a delete).
 */
export function entryServerNodes(state: EmulatorState, entry: FixtureEntry, now: number): FixtureEntryServerNode[] {
  for (const node of [...(entry.mediaServerNodes ?? [])]) {
    if (node.updatedAt === undefined) continue;
    const lastSeen = Math.max(node.updatedAt, node.playableAt ?? 0);
    if (now - lastSeen > state.entryServerNodeExpiryMs) deleteEntryServerNode(state, entry, node.index, now);
  }
  return entry.mediaServerNodes ?? [];
}

export function entryServerNode(state: EmulatorState, entry: FixtureEntry, index: number, now: number): FixtureEntryServerNode | undefined {
  return entryServerNodes(state, entry, now).find((n) => n.index === index);
}

/**
 * LiveEntry::setMediaServer: create or update the (entry, index) node. The caller has checked
 * that `hostname` is an active media server node. Creation of the primary starts the broadcast;
 * a PLAYABLE registration refreshes the node's cache entry.
 */
export function setMediaServer(state: EmulatorState, entry: FixtureEntry, index: number, hostname: string, status: number, applicationName: string | null, now: number): FixtureEntryServerNode {
  const times = broadcastTimes(state, entry.id);
  let node = entryServerNode(state, entry, index, now);
  if (!node) {
    node = { id: state.newEntryServerNodeId(), hostName: hostname, index, status, updatedAt: now, ...(applicationName ? { applicationName } : {}) };
    entry.mediaServerNodes = [...(entry.mediaServerNodes ?? []), node];
    // postInsert
    if (index === LIVE_PRIMARY && !times.currentBroadcastStartTime) times.currentBroadcastStartTime = now;
  } else {
    let changed = false;
    if (node.status !== status) {
      changed = true;
      node.status = status;
      // postUpdate
      if (status === EntryServerNodeStatus.PLAYABLE && index === LIVE_PRIMARY) times.lastBroadcast = now;
      if (status === EntryServerNodeStatus.AUTHENTICATED && index === LIVE_PRIMARY && !times.currentBroadcastStartTime) times.currentBroadcastStartTime = now;
    }
    if (node.hostName !== hostname) {
      changed = true;
      node.hostName = hostname;
    }
    // Only a saved change moves updated_at (Propel saves nothing when nothing changed).
    if (changed) node.updatedAt = now;
  }
  if (status === EntryServerNodeStatus.PLAYABLE) {
    if (times.firstBroadcast === undefined && index === LIVE_PRIMARY) times.firstBroadcast = now;
    node.playableAt = now;
  }
  return node;
}

/** deleteOrMarkForDeletion + postDelete: the last playable node gone ends the broadcast. */
export function deleteEntryServerNode(state: EmulatorState, entry: FixtureEntry, index: number, now: number): boolean {
  const nodes = entry.mediaServerNodes ?? [];
  const remaining = nodes.filter((n) => n.index !== index);
  if (remaining.length === nodes.length) return false;
  entry.mediaServerNodes = remaining;
  const times = broadcastTimes(state, entry.id);
  if (!remaining.some((n) => n.status === EntryServerNodeStatus.PLAYABLE)) {
    // unsetMediaServer
    if (entry.recordedEntryId) times.redirectEntryId = entry.recordedEntryId;
    times.currentBroadcastStartTime = 0;
  }
  if (index === LIVE_PRIMARY) times.lastBroadcastEndTime = now;
  return true;
}

/** getEntryServerNodeStatusForPlayback: the best status over the nodes (STOPPED < AUTHENTICATED < BROADCASTING < PLAYABLE). */
export function liveStatus(state: EmulatorState, entry: FixtureEntry, now: number): number {
  const order: number[] = [EntryServerNodeStatus.STOPPED, EntryServerNodeStatus.AUTHENTICATED, EntryServerNodeStatus.BROADCASTING, EntryServerNodeStatus.PLAYABLE];
  let best = 0;
  for (const node of entryServerNodes(state, entry, now)) if (node.index === 0 || node.index === 1) best = Math.max(best, order.indexOf(node.status));
  return order[Math.max(0, best)];
}

/** KalturaLiveEntryService::shouldCreateRecordedEntry. */
export function shouldCreateRecordedEntry(state: EmulatorState, entry: FixtureEntry, index: number, status: number, forcePrimary: boolean, now: number): boolean {
  if (entry.recordStatus !== RecordStatus.APPENDED && entry.recordStatus !== RecordStatus.PER_SESSION) return false;
  if (status !== EntryServerNodeStatus.BROADCASTING && status !== EntryServerNodeStatus.PLAYABLE) return false;
  if (forcePrimary && index !== LIVE_PRIMARY) return false;
  const recorded = entry.recordedEntryId ? state.vodEntries.get(entry.recordedEntryId) : undefined;
  if (!recorded) return true;
  if (entry.recordStatus === RecordStatus.PER_SESSION) {
    const times = broadcastTimes(state, entry.id);
    const timeout = state.liveSessionReconnectTimeoutMs;
    const isNewSession = times.lastBroadcastEndTime + timeout < times.currentBroadcastStartTime;
    const notYetCreatedForSession = recorded.createdAtMs + timeout < times.currentBroadcastStartTime;
    return isNewSession && notYetCreatedForSession;
  }
  // APPENDED: a new recorded entry only after a week or past the recording length limit (a day).
  const WEEK_MS = 7 * 86_400_000;
  return recorded.sourceType === KALTURA_RECORDED_LIVE && (recorded.createdAtMs + WEEK_MS < now || recorded.lengthInMsecs > 86_400_000);
}

/** EntrySourceType::KALTURA_RECORDED_LIVE: what createRecordedEntry makes. */
export const KALTURA_RECORDED_LIVE = '36';
/** EntrySourceType::RECORDED_LIVE: appendRecording switches the recorded entry to it. */
export const RECORDED_LIVE = '34';

/**
 * createRecordedEntryWrapper + createRecordedEntry: APPENDED drops the old id first; a
 * non-PER_SESSION entry that still has its recorded entry keeps it. PER_SESSION names the new
 * entry "<name> <recorded entry index + 1>".
 */
export function createRecordedEntry(state: EmulatorState, entry: FixtureEntry, now: number, { rotate }: { rotate: boolean }): VodEntryRecord {
  const times = broadcastTimes(state, entry.id);
  if (rotate && entry.recordStatus === RecordStatus.APPENDED) entry.recordedEntryId = undefined;
  if (entry.recordStatus !== RecordStatus.PER_SESSION && entry.recordedEntryId) {
    const existing = state.vodEntries.get(entry.recordedEntryId);
    if (existing) return existing;
  }
  const name = entry.recordStatus === RecordStatus.PER_SESSION ? `${entry.name} ${times.recordedEntryIndex + 1}` : entry.name;
  const id = state.newEntryId();
  const record = state.ensureVodEntry(id, entry.partnerId, name, { rootEntryId: entry.id, sourceType: KALTURA_RECORDED_LIVE, now });
  if (id !== entry.recordedEntryId) times.recordedEntryIndex += 1;
  entry.recordedEntryId = id;
  return record;
}
