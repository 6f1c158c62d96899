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
import type { AuthErrorCode } from './errors';
import type { AuthDecision, PublisherAuth } from './policy';

export interface AuthGates {
  onConnect: Gate<ConnectEvent>;
  onPublish: Gate<PublishEvent>;
}

/** RTMP status code of a refused publish that is about the stream name. */
const BAD_NAME = 'NetStream.Publish.BadName';

/**
 * The SRT reject code (libsrt SRT_REJX_*, what an SRT caller reports) of a refusal: an SRT
 * encoder refused before any media sees why, as an RTMP one sees the description. Default 2403.
 */
export function srtRejectCode(error: { code: AuthErrorCode; kalturaCode?: string }): number {
  switch (error.code) {
    case 'MISSING_ARGUMENT':
    case 'INVALID_ARGUMENT':
    case 'INVALID_STREAM_NAME':
    case 'INCORRECT_STREAM_NAME':
    case 'UNKNOWN_APPLICATION':
      return 2400; // SRT_REJX_BAD_REQUEST
    case 'KALTURA_REFUSED':
      if (error.kalturaCode === 'LIVE_STREAM_INVALID_TOKEN') return 2401; // SRT_REJX_UNAUTHORIZED
      if (error.kalturaCode === 'ENTRY_ID_NOT_FOUND') return 2404; // SRT_REJX_NOTFOUND
      return 2403;
    case 'BLOCKED':
    case 'RATE_LIMITED':
      return 2402; // SRT_REJX_OVERLOAD
    case 'KALTURA_UNAVAILABLE':
    case 'SHUTTING_DOWN':
      return 2503; // SRT_REJX_DOWN
    default:
      return 2403; // SRT_REJX_FORBIDDEN
  }
}

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
      return { accept: false, description: decision.error.message, srtReject: srtRejectCode(decision.error) };
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
      const verdict: Verdict = { accept: false, description: decision.error.message, srtReject: srtRejectCode(decision.error) };
      if (decision.error.code === 'INVALID_STREAM_NAME' || decision.error.code === 'INCORRECT_STREAM_NAME') verdict.code = BAD_NAME;
      return verdict;
    },
  };
}

function decisionEntry(decision: AuthDecision): string | undefined {
  return decision.accept ? decision.entryId : undefined;
}
