/**
 * Whether an entry is recorded by this server (DESIGN.md "Recording"): its recordStatus is
 * enabled (1 append, 2 per session; 0 disabled) and its partner does NOT have
 * FEATURE_LIVE_STREAM_KALTURA_RECORDING (with it Kaltura records the entry itself and refuses
 * appendRecording with KALTURA_RECORDING_ENABLED).
 *
 * The permission comes from permission.get, cached per partner (default 10 min), one call in
 * flight per partner. Kaltura answers INVALID_OBJECT_ID when the partner lacks the permission
 * (PermissionService::getAction; PERMISSION_NOT_FOUND is accepted as the same answer), and a
 * permission that exists but is not ACTIVE (blocked, deleted) is lacking too.
 *
 * Any other failure (Kaltura down, slow, INVALID_KS …) records anyway and is not cached: a
 * recording that turns out to be unwanted costs disk until its delivery fails with
 * KALTURA_RECORDING_ENABLED, a recording that was not made is lost for good.
 */
import type { KalturaApi } from '../kaltura/api';
import { isKalturaApiError } from '../kaltura/errors';
import type { KalturaLiveStreamEntry } from '../kaltura/types';
import type { Logger } from '../log';
import { describeError } from './errors';

export const KALTURA_RECORDING_PERMISSION = 'FEATURE_LIVE_STREAM_KALTURA_RECORDING';

export type PermissionApi = Pick<KalturaApi, 'permissionGet'>;

export type RecordingDecisionReason =
  /** Record: enabled and the partner lacks Kaltura recording. */
  | 'record'
  /** Record: the permission check failed, so record to be safe. */
  | 'record-permission-unknown'
  /** recording.enabled is false. */
  | 'disabled-by-config'
  /** entry.recordStatus is 0 / absent. */
  | 'record-status-disabled'
  /** The partner has FEATURE_LIVE_STREAM_KALTURA_RECORDING. */
  | 'kaltura-records';

export interface RecordingDecision {
  record: boolean;
  reason: RecordingDecisionReason;
  /** The permission.get failure when reason is 'record-permission-unknown'. */
  error?: string;
}

export interface RecordingPolicyOptions {
  /** recording.enabled; default true. */
  enabled?: boolean;
  /** Permission cache per partner; default 10 min. */
  cacheMs?: number;
  now?: () => number;
  log?: Logger;
}

const PERMISSION_ACTIVE = 1;
const LACKS_CODES = ['INVALID_OBJECT_ID', 'PERMISSION_NOT_FOUND'];

export class RecordingPolicy {
  private readonly cache = new Map<string, { hasKalturaRecording: boolean; at: number }>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private readonly enabled: boolean;
  private readonly cacheMs: number;
  private readonly now: () => number;

  constructor(
    private readonly api: PermissionApi,
    private readonly options: RecordingPolicyOptions = {},
  ) {
    this.enabled = options.enabled ?? true;
    this.cacheMs = options.cacheMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * `impersonate`: the partner to ask for (partner -5 mode); undefined in eCDN mode, where
   * the server's own partner is asked. Never throws.
   */
  async shouldRecord(entry: Pick<KalturaLiveStreamEntry, 'recordStatus'>, impersonate?: number): Promise<RecordingDecision> {
    if (!this.enabled) return { record: false, reason: 'disabled-by-config' };
    if (!entry.recordStatus) return { record: false, reason: 'record-status-disabled' };
    try {
      const has = await this.partnerHasKalturaRecording(impersonate);
      return has ? { record: false, reason: 'kaltura-records' } : { record: true, reason: 'record' };
    } catch (err) {
      const error = describeError(err);
      this.options.log?.warn('permission check failed; recording anyway', { permission: KALTURA_RECORDING_PERMISSION, partnerId: impersonate, error });
      return { record: true, reason: 'record-permission-unknown', error };
    }
  }

  private partnerHasKalturaRecording(impersonate: number | undefined): Promise<boolean> {
    const key = impersonate === undefined ? 'self' : String(impersonate);
    const cached = this.cache.get(key);
    if (cached && this.now() - cached.at < this.cacheMs) return Promise.resolve(cached.hasKalturaRecording);
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.ask(impersonate)
        .then((has) => {
          this.cache.set(key, { hasKalturaRecording: has, at: this.now() });
          return has;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private async ask(impersonate: number | undefined): Promise<boolean> {
    try {
      const permission = await this.api.permissionGet(KALTURA_RECORDING_PERMISSION, impersonate);
      return Number(permission.status) === PERMISSION_ACTIVE;
    } catch (err) {
      if (isKalturaApiError(err) && LACKS_CODES.includes(err.code)) return false;
      throw err;
    }
  }
}
