/**
 * `wowza_liveConversionProfile.serve` with Kaltura's last answer as the fallback while Kaltura
 * cannot be reached: a publisher admitted from its last decision (auth.staleAdmitSeconds)
 * also needs its transcode plan, or it would be refused one step later. The plan is asked once
 * per publish, with the source's metadata as `extraParams`; the last answer per stream (of
 * the last publish, whatever its metadata) is kept and served stale. A definite answer from
 * Kaltura (an exception) is never replaced.
 *
 * Unreachable includes slow: a hanging API would hold the stream's start (the client retries a
 * read-only call several times), so when a last-known plan exists and Kaltura has not answered
 * within `answerWithinMs`, that plan is used; the call goes on and its answer, if any, is kept
 * for next time.
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
  /** With a last-known plan at hand, wait this long for Kaltura at most. Default: no limit. */
  answerWithinMs?: number;
  now?: () => number;
  log?: Logger;
}

export function withLastKnownPlans(api: PlanApi, store: DecisionStore, opts: LastKnownPlansOptions): PlanApi {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? silentLogger;
  const isXml = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
  const lastKnown = (key: string) => {
    if (opts.maxAgeMs <= 0) return undefined;
    const last = store.get(PLAN_ANSWERS, key, isXml);
    return last && now() - last.at < opts.maxAgeMs ? last : undefined;
  };
  const serveStale = (streamName: string, last: { at: number; value: string }, reason: string) => {
    store.noteStaleUse(PLAN_ANSWERS);
    log.warn('transcode plan from the last Kaltura answer: Kaltura is unreachable', { streamName, answerAgeSeconds: Math.round((now() - last.at) / 1000), reason });
    return last.value;
  };
  return {
    conversionProfileServe(streamName, hostname, extraParams, impersonate) {
      const key = `${impersonate ?? ''}|${hostname}|${streamName}`;
      const call = api.conversionProfileServe(streamName, hostname, extraParams, impersonate).then((xml) => {
        if (opts.maxAgeMs > 0) store.set(PLAN_ANSWERS, key, xml);
        return xml;
      });
      const last = lastKnown(key);
      if (!last) return call;
      return new Promise<string>((resolve, reject) => {
        let settled = false;
        const settle = (f: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          f();
        };
        const timer =
          opts.answerWithinMs === undefined
            ? undefined
            : setTimeout(() => settle(() => resolve(serveStale(streamName, last, `no answer within ${opts.answerWithinMs} ms`))), opts.answerWithinMs);
        call.then(
          (xml) => settle(() => resolve(xml)),
          (error: unknown) =>
            settle(() => (isKalturaUnreachable(error) ? resolve(serveStale(streamName, last, (error as Error).message)) : reject(error))),
        );
      });
    },
  };
}
