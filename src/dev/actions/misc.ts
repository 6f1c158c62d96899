/**
 * Small services: beacon_beacon.add, permission.get, media.cancelReplace, system.ping.
 * Semantics from kaltura/server plugins/beacon/services/BeaconService.php,
 * api_v3/services/PermissionService.php, api_v3/services/MediaService.php.
 */
import { fieldStr } from '../args';
import { apiError } from '../errors';
import { mediaEntryObject, permissionObject } from '../objects';
import { visibleTo, type ActionSpec } from './context';

/**
 * Kaltura serves plugin services as `<plugin>_<service>`: the beacon service is
 * `beacon_beacon` (a plain `beacon` is SERVICE_DOES_NOT_EXISTS there, and here).
 */
/**
 * BeaconObjectTypes: SCHEDULE_RESOURCE_BEACON 1, ENTRY_SERVER_NODE_BEACON 2,
 * SERVER_NODE_BEACON 3, ENTRY_BEACON 4 (the one a media server's health data is about).
 */
const BEACON_OBJECT_TYPES = ['1', '2', '3', '4'];

const beaconAdd: ActionSpec = {
  service: 'beacon_beacon',
  action: 'add',
  ks: 'required',
  params: [
    { name: 'beacon', type: 'object' },
    { name: 'shouldLog', type: 'int', optional: true, default: 0 },
  ],
  handler(ctx, args) {
    const beacon = args.obj('beacon');
    if (!beacon) throw apiError('MISSING_MANDATORY_PARAMETER', 'beacon');
    // KalturaBeacon::validateForInsert, in its order.
    for (const property of ['eventType', 'objectId', 'relatedObjectType']) {
      if (fieldStr(beacon, property) === undefined) throw apiError('PROPERTY_VALIDATION_CANNOT_BE_NULL', `KalturaBeacon::${property}`);
    }
    const relatedObjectType = fieldStr(beacon, 'relatedObjectType') as string;
    // KalturaBeaconObjectTypes is a dynamic enum: KalturaRequestDeserializer refuses other values.
    if (!BEACON_OBJECT_TYPES.includes(relatedObjectType)) {
      throw apiError('INVALID_ENUM_VALUE', relatedObjectType, 'relatedObjectType', 'KalturaBeaconObjectTypes');
    }
    const rawData = fieldStr(beacon, 'rawData');
    ctx.state.beacons.push({
      time: Date.now(),
      partnerId: ctx.partnerId,
      relatedObjectType,
      objectId: fieldStr(beacon, 'objectId') as string,
      eventType: fieldStr(beacon, 'eventType') as string,
      privateData: fieldStr(beacon, 'privateData') ?? '',
      shouldLog: args.int('shouldLog') === 1,
      ...(rawData === undefined ? {} : { rawData }),
    });
    // kBeacon::index answers a bare boolean.
    return true;
  },
};

const permissionGet: ActionSpec = {
  service: 'permission',
  action: 'get',
  ks: 'required',
  params: [{ name: 'permissionName', type: 'string' }],
  handler(ctx, args) {
    const name = args.str('permissionName');
    const partnerId = ctx.partnerId ?? 0;
    // Kaltura answers INVALID_OBJECT_ID (not PERMISSION_NOT_FOUND) for a permission the partner lacks.
    if (!ctx.state.hasPermission(partnerId, name)) throw apiError('INVALID_OBJECT_ID', name);
    return permissionObject(partnerId, name);
  },
};

const cancelReplace: ActionSpec = {
  service: 'media',
  action: 'cancelReplace',
  ks: 'required',
  params: [{ name: 'entryId', type: 'string' }],
  handler(ctx, args) {
    const entryId = args.str('entryId');
    const entry = ctx.state.vodEntries.get(entryId);
    if (!entry || !visibleTo(ctx, entry.partnerId)) throw apiError('ENTRY_ID_NOT_FOUND', entryId);
    entry.replacementStatus = 0;
    entry.updatedAt = Math.floor(Date.now() / 1000);
    return mediaEntryObject(entry);
  },
};

const ping: ActionSpec = {
  service: 'system',
  action: 'ping',
  ks: 'none',
  params: [],
  handler: () => true,
};

export const miscActions: ActionSpec[] = [beaconAdd, permissionGet, cancelReplace, ping];
