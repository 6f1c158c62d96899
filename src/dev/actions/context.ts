/**
 * What an action handler sees: the state, who is calling (after KS checks and impersonation)
 * and the partner filter Kaltura would apply to its queries.
 */
import type { Args, ParamSpec } from '../args';
import { apiError } from '../errors';
import type { KsSession } from '../ks-verify';
import type { ApiValue, FileResult } from '../serialize';
import type { FixtureEntry } from '../fixtures';
import type { EmulatorState } from '../state';

export interface ActionContext {
  state: EmulatorState;
  /** Effective partner: the `partnerId` request param when impersonating, else the KS partner. */
  partnerId: number | null;
  /** The `partnerId`/`p` request param (kCurrentContext::$partner_id). */
  requestedPartnerId: number | null;
  session: KsSession | null;
  /**
   * Partner filter of queries: '*' when a partner with an all-partners group (the media-server
   * partner -5) calls for itself, otherwise the effective partner.
   */
  scope: '*' | number | null;
  /** Canonical names, e.g. 'liveStream' / 'authenticate' (for SERVICE_FORBIDDEN messages). */
  service: string;
  action: string;
}

export interface ActionSpec {
  /** Canonical service id as Kaltura declares it, e.g. 'liveStream', 'wowza_liveConversionProfile'. */
  service: string;
  action: string;
  params: readonly ParamSpec[];
  /** 'required': the action needs a partner session; 'none': callable anonymously. */
  ks: 'required' | 'none';
  /** `@return file` actions: errors raised inside become an empty answer with X-Kaltura headers. */
  returnsFile?: boolean;
  handler: (ctx: ActionContext, args: Args) => ApiValue | FileResult;
}

export function visibleTo(ctx: ActionContext, ownerPartnerId: number): boolean {
  return ctx.scope === '*' || ctx.scope === ownerPartnerId;
}

/** LiveStreamService::initService: partners > 0 need FEATURE_LIVE_STREAM for any liveStream action. */
export function requireLiveFeature(ctx: ActionContext): void {
  if (ctx.partnerId !== null && ctx.partnerId > 0 && !ctx.state.hasPermission(ctx.partnerId, 'FEATURE_LIVE_STREAM')) {
    throw apiError('SERVICE_FORBIDDEN', `${ctx.service}->${ctx.action}`);
  }
  // KalturaLiveEntryService::initService: a blocked partner (content or full) is refused every
  // live action (kCoreException PARTNER_BLOCKED → SERVICE_FORBIDDEN_CONTENT_BLOCKED).
  if (ctx.partnerId !== null && isBlocked(ctx.state, ctx.partnerId)) throw apiError('SERVICE_FORBIDDEN_CONTENT_BLOCKED');
}

/** Partner::PARTNER_STATUS_CONTENT_BLOCK (2) or FULL_BLOCK (3). */
export function isBlocked(state: EmulatorState, partnerId: number): boolean {
  const status = state.partners.get(partnerId)?.status;
  return status === 2 || status === 3;
}

/** entryPeer::retrieveByPK under the partner filter: another partner's entry does not exist. */
export function findLiveEntry(ctx: ActionContext, entryId: string): FixtureEntry {
  const entry = ctx.state.entries.get(entryId);
  if (!entry || !visibleTo(ctx, entry.partnerId)) throw apiError('ENTRY_ID_NOT_FOUND', entryId);
  return entry;
}
