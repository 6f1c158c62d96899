/**
 * The thin adapter between PublisherAuth and RtmpIngest: the policy's decisions become the
 * core's verdicts (a refusal's message is the description the encoder sees), and each decision
 * is logged with the entry and connection ids. Refusal lines are throttled per client address
 * and refusal code (log-throttle.ts): a stranger repeating a bad connect costs a few lines,
 * not one per attempt; the refusal list and metrics still count every one.
 */
import type { ConnectEvent, Gate, PublishEvent, Verdict } from '../../ingest/rtmp-ingest';
import { silentLogger, type Logger } from '../../log';
import { LogThrottle } from '../../log-throttle';
import type { AuthDecision, PublisherAuth } from './policy';

export interface AuthGates {
  onConnect: Gate<ConnectEvent>;
  onPublish: Gate<PublishEvent>;
}

/** RTMP status code of a refused publish that is about the stream name. */
const BAD_NAME = 'NetStream.Publish.BadName';

export function authGates(auth: PublisherAuth, log: Logger = silentLogger, now: () => number = Date.now): AuthGates {
  const throttle = new LogThrottle();
  /** The refusal line, unless this address had its share of lines for this code this minute. */
  const logRefusal = (msg: string, connectionId: number, code: string, fields: Record<string, unknown>) => {
    const admitted = throttle.admit(`${auth.clientIp(connectionId) ?? '?'}|${code}`, now());
    if (!admitted) return;
    log.warn(msg, admitted.suppressed > 0 ? { ...fields, similarRefusalsNotLogged: admitted.suppressed } : fields);
  };
  return {
    async onConnect(event) {
      const decision = await auth.connect({
        connectionId: event.connectionId,
        remoteAddress: event.remoteAddress,
        app: event.app,
        tcUrl: event.tcUrl,
        query: event.query,
      });
      const fields = { connectionId: event.connectionId, entryId: decisionEntry(decision) ?? auth.entryOf(event.connectionId), remoteAddress: event.remoteAddress };
      if (decision.accept) {
        log.info(decision.via === 'deferred' ? 'connect accepted; Kaltura arguments expected with the stream name' : 'connect accepted', {
          ...fields,
          via: decision.via,
          tcUrl: event.tcUrl,
          flashVer: event.flashVer,
        });
        return { accept: true };
      }
      logRefusal('connect refused', event.connectionId, decision.error.code, { ...fields, reason: decision.error.message, code: decision.error.code, kalturaCode: decision.error.kalturaCode, tcUrl: event.tcUrl });
      return { accept: false, description: decision.error.message };
    },
    async onPublish(event) {
      const decision = await auth.publish({ connectionId: event.connectionId, streamName: event.streamName, query: event.query });
      const fields = {
        connectionId: event.connectionId,
        entryId: decisionEntry(decision) ?? auth.entryOf(event.connectionId),
        streamName: event.streamName,
      };
      if (decision.accept) {
        log.info('publish accepted', { ...fields, via: decision.via });
        return { accept: true };
      }
      logRefusal('publish refused', event.connectionId, decision.error.code, { ...fields, reason: decision.error.message, code: decision.error.code, kalturaCode: decision.error.kalturaCode });
      const verdict: Verdict = { accept: false, description: decision.error.message };
      if (decision.error.code === 'INVALID_STREAM_NAME' || decision.error.code === 'INCORRECT_STREAM_NAME') verdict.code = BAD_NAME;
      return verdict;
    },
  };
}

function decisionEntry(decision: AuthDecision): string | undefined {
  return decision.accept ? decision.entryId : undefined;
}
