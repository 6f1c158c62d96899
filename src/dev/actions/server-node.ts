/**
 * serverNode.reportStatus / markOffline (kaltura/server api_v3/services/ServerNodeService.php):
 * reportStatus registers the node when no active node of that hostName exists for the partner
 * and a serverNode object is given (else SERVER_NODE_NOT_FOUND), then records the heartbeat;
 * NOT_OPERATIONAL (5) is stored as ACTIVE (1). markOffline takes the node id of an ACTIVE node
 * and sets NOT_REGISTERED (4).
 */
import { fieldInt, fieldStr } from '../args';
import { apiError } from '../errors';
import { serverNodeObject } from '../objects';
import { nowSeconds } from '../state';
import type { ActionSpec } from './context';

const reportStatus: ActionSpec = {
  service: 'serverNode',
  action: 'reportStatus',
  ks: 'required',
  params: [
    { name: 'hostName', type: 'string' },
    { name: 'serverNode', type: 'object', optional: true },
    { name: 'serverNodeStatus', type: 'int', optional: true, default: 1 },
  ],
  handler(ctx, args) {
    const hostName = args.str('hostName');
    const partnerId = ctx.partnerId ?? 0;
    const reported = args.obj('serverNode');
    let node = ctx.state.activeServerNode(hostName, partnerId);
    if (!node) {
      if (!reported) throw apiError('SERVER_NODE_NOT_FOUND', hostName);
      const { objectType: _objectType, id: _id, partnerId: _pid, status: _status, ...rest } = reported;
      node = ctx.state.addServerNode({
        partnerId,
        hostName: fieldStr(reported, 'hostName') ?? hostName,
        name: fieldStr(reported, 'name') ?? hostName,
        status: 1,
        objectType: fieldStr(reported, 'objectType') ?? 'KalturaWowzaMediaServerNode',
        transcoder: fieldStr(reported, 'transcoder'),
        GPUID: fieldInt(reported, 'GPUID'),
        reported: rest,
      });
    }
    const status = args.int('serverNodeStatus');
    node.status = status === 5 ? 1 : status;
    node.heartbeatTime = nowSeconds();
    node.updatedAt = node.heartbeatTime;
    return serverNodeObject(node);
  },
};

const markOffline: ActionSpec = {
  service: 'serverNode',
  action: 'markOffline',
  ks: 'required',
  params: [{ name: 'serverNodeId', type: 'string' }],
  handler(ctx, args) {
    const id = args.str('serverNodeId');
    const node = ctx.state.serverNodes.get(Number(id));
    if (!node || node.status !== 1) throw apiError('INVALID_OBJECT_ID', id);
    node.status = 4;
    node.updatedAt = nowSeconds();
    return serverNodeObject(node);
  },
};

export const serverNodeActions: ActionSpec[] = [reportStatus, markOffline];
