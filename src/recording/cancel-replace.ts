/**
 * On unpublish of the primary (server index 0): when one of the entry's live assets is tagged
 * `recording_anchor` and the entry has a recorded entry, `media.cancelReplace(recordedEntryId)`
 * (what the replaced server did so that a half-done replacement of the recorded entry does not
 * linger). Runs off the ingest path: Kaltura errors are logged and reported in the outcome,
 * never thrown.
 */
import type { KalturaApi, MediaServerIndex } from '../kaltura/api';
import type { Logger } from '../log';
import { describeError } from './errors';

export type CancelReplaceApi = Pick<KalturaApi, 'flavorAssetList' | 'mediaCancelReplace' | 'liveStreamGet'>;

export interface UnpublishInfo {
  entryId: string;
  serverIndex: MediaServerIndex;
  /** Impersonated partner (partner -5 mode); undefined in eCDN mode. */
  partnerId?: number;
  /**
   * The entry's recordedEntryId if known. When undefined it is read with liveStream.get: the
   * first appendRecording creates it, so the entry seen at authentication may predate it.
   */
  recordedEntryId?: string;
}

export type CancelReplaceOutcome =
  | { action: 'cancelled'; recordedEntryId: string }
  | { action: 'skipped'; reason: 'not-primary' | 'no-anchor-asset' | 'no-recorded-entry' }
  | { action: 'error'; error: string };

export const RECORDING_ANCHOR_TAG = 'recording_anchor';

export async function cancelReplaceOnUnpublish(api: CancelReplaceApi, info: UnpublishInfo, log?: Logger): Promise<CancelReplaceOutcome> {
  if (info.serverIndex !== 0) return { action: 'skipped', reason: 'not-primary' };
  try {
    const assets = await api.flavorAssetList(info.entryId, info.partnerId);
    const anchored = (assets.objects ?? []).some((a) => hasTag(a.tags, RECORDING_ANCHOR_TAG));
    if (!anchored) return { action: 'skipped', reason: 'no-anchor-asset' };
    const recordedEntryId = info.recordedEntryId ?? (await api.liveStreamGet(info.entryId, info.partnerId)).recordedEntryId;
    if (!recordedEntryId) return { action: 'skipped', reason: 'no-recorded-entry' };
    await api.mediaCancelReplace(recordedEntryId, info.partnerId);
    log?.info('recorded entry replacement cancelled', { entryId: info.entryId, recordedEntryId });
    return { action: 'cancelled', recordedEntryId };
  } catch (err) {
    const error = describeError(err);
    log?.warn('media.cancelReplace on unpublish failed', { entryId: info.entryId, error });
    return { action: 'error', error };
  }
}

/** Kaltura tags are a comma-separated list (spaces around items allowed). */
export function hasTag(tags: string | undefined, tag: string): boolean {
  return (tags ?? '')
    .split(',')
    .map((t) => t.trim())
    .includes(tag);
}
