/**
 * `wowza_liveConversionProfile.serve` with Kaltura's last answer as the fallback while Kaltura
 * cannot be reached: a publisher admitted from its last decision (auth.staleAdmitSeconds)
 * also needs its transcode plan, or it would be refused one step later. Only the publish-time
 * request (no `extraParams`) is kept and served stale; the request with the source's metadata
 * already falls back to the publish-time plan in the orchestrator. A definite answer from
 * Kaltura (an exception) is never replaced.
 */
import type { Logger } from '../log';
import { silentLogger } from '../log';
import type { KalturaApi } from './api';
import type { DecisionStore } from './decision-store';
import { isKalturaUnreachable } from './unreachable';

/** The decision store's namespace for transcode plans. */
export const PLAN_ANSWERS = 'plan';

export type PlanApi = Pick<KalturaApi, 'conversionProfileServe'>;

export interface LastKnownPlansOptions {
  /** Oldest answer served; 0 turns the fallback off. */
  maxAgeMs: number;
  now?: () => number;
  log?: Logger;
}

export function withLastKnownPlans(api: PlanApi, store: DecisionStore, opts: LastKnownPlansOptions): PlanApi {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? silentLogger;
  const isXml = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
  return {
    async conversionProfileServe(streamName, hostname, extraParams, impersonate) {
      const key = `${impersonate ?? ''}|${hostname}|${streamName}`;
      try {
        const xml = await api.conversionProfileServe(streamName, hostname, extraParams, impersonate);
        if (extraParams === undefined && opts.maxAgeMs > 0) store.set(PLAN_ANSWERS, key, xml);
        return xml;
      } catch (error) {
        if (extraParams !== undefined || opts.maxAgeMs <= 0 || !isKalturaUnreachable(error)) throw error;
        const last = store.get(PLAN_ANSWERS, key, isXml);
        if (!last || now() - last.at >= opts.maxAgeMs) throw error;
        store.noteStaleUse(PLAN_ANSWERS);
        log.warn('transcode plan from the last Kaltura answer: Kaltura is unreachable', {
          streamName,
          answerAgeSeconds: Math.round((now() - last.at) / 1000),
          reason: (error as Error).message,
        });
        return last.value;
      }
    },
  };
}
