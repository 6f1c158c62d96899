/**
 * Health-data beacons about refused publishers, as the replaced server sent them
 * (kaltura/media-server KalturaAPI.sendBeacon / createAlertJson / getErrorCode):
 *
 *   beacon.add(KalturaBeacon{ relatedObjectType ENTRY_BEACON ('4'), objectId entryId,
 *     eventType '<serverIndex>_healthData', privateData }, shouldLog 1) as the entry's partner, where
 *   privateData = {"alerts":[{"Arguments":{"entryId":…,"alertType":<Kaltura code>,
 *     "parameter":…},"Time":<epoch ms>,"Code":<alert code>}],"maxSeverity":4}
 *
 * The old server built that text by concatenation (with a trailing comma when the parameter
 * was empty, which is not JSON); here it is JSON.stringify of the same fields in the same order.
 */
import type { KalturaBeacon } from '../types';
import { AlertCode } from '../types';

/** AUTHENTICATION_ALERT_SEVERITY of the old server. */
export const ALERT_SEVERITY = 4;
/**
 * KalturaBeaconObjectTypes.ENTRY_BEACON (kaltura/server plugins/beacon BeaconObjectTypes:
 * SCHEDULE_RESOURCE_BEACON 1, ENTRY_SERVER_NODE_BEACON 2, SERVER_NODE_BEACON 3, ENTRY_BEACON 4).
 * KMC's live-health panel lists the entry's beacons; a '1' would file it under a schedule
 * resource and nobody would see it.
 */
export const ENTRY_BEACON = '4';
/**
 * beacon.add's `shouldLog`: 1 also writes the beacon to the log index (kBeacon::index), which
 * is what the live-health panel reads; without it only the latest state is kept.
 */
export const BEACON_SHOULD_LOG = 1;

/**
 * Kaltura error code (or our INCORRECT_STREAM_NAME) → alert code. The old server had no code
 * for "no live permission" (114) although it listed the alert; Kaltura answers a partner
 * without FEATURE_LIVE_STREAM with SERVICE_FORBIDDEN (LiveStreamService::initService), so that
 * is mapped to 114. Anything else is -1, as before.
 */
export function alertCodeOf(alertType: string): number {
  switch (alertType) {
    case 'LIVE_STREAM_INVALID_TOKEN':
      return AlertCode.LiveStreamInvalidToken;
    case 'INCORRECT_STREAM_NAME':
      return AlertCode.IncorrectStreamName;
    case 'ENTRY_ID_NOT_FOUND':
      return AlertCode.EntryIdNotFound;
    case 'SERVICE_FORBIDDEN':
      return AlertCode.NoLivePermission;
    case 'LIVE_STREAM_EXCEEDED_MAX_PASSTHRU':
      return AlertCode.LiveStreamExceededMaxPassthru;
    case 'LIVE_STREAM_EXCEEDED_MAX_TRANSCODED':
      return AlertCode.LiveStreamExceededMaxTranscoded;
    default:
      return -1;
  }
}

export interface AlertData {
  alerts: Array<{
    Arguments: { entryId: string; alertType: string; parameter?: string };
    Time: number;
    Code: number;
  }>;
  maxSeverity: number;
}

/** The privateData text of one alert. `parameter` is omitted when empty, as before. */
export function alertJson(entryId: string, alertType: string, parameter: string, timeMs: number): string {
  const args: AlertData['alerts'][number]['Arguments'] = { entryId, alertType };
  if (parameter !== '') args.parameter = parameter;
  const data: AlertData = { alerts: [{ Arguments: args, Time: timeMs, Code: alertCodeOf(alertType) }], maxSeverity: ALERT_SEVERITY };
  return JSON.stringify(data);
}

export function healthBeacon(entryId: string, serverIndex: number, alertType: string, parameter: string, timeMs: number): KalturaBeacon {
  return {
    objectType: 'KalturaBeacon',
    relatedObjectType: ENTRY_BEACON,
    objectId: entryId,
    eventType: `${serverIndex}_healthData`,
    privateData: alertJson(entryId, alertType, parameter, timeMs),
  };
}
