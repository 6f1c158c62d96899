/**
 * entryServerNode.list / update (kaltura/server api_v3/services/EntryServerNodeService.php) for
 * live entry-server-nodes: a media server lists its node of an entry (filter entryIdEqual,
 * serverTypeEqual) and updates the renditions it serves (KalturaLiveEntryServerNode.streams),
 * which playManifest's proxied master lists (play-manifest.ts).
 */
import { fieldInt, fieldStr } from '../args';
import { apiError } from '../errors';
import type { FixtureEntry, FixtureEntryServerNode, FixtureLiveStreamParams } from '../fixtures';
import { entryServerNodes } from '../live-nodes';
import { listResponse } from '../objects';
import { isTree, type ParamTree } from '../params';
import type { ApiObject } from '../serialize';
import type { EmulatorState } from '../state';
import { visibleTo, type ActionContext, type ActionSpec } from './context';

/** KalturaLiveEntryServerNode as Kaltura returns it. */
function entryServerNodeObject(state: EmulatorState, entry: FixtureEntry, n: FixtureEntryServerNode): ApiObject {
  return {
    objectType: 'KalturaLiveEntryServerNode',
    id: n.id ?? 0,
    entryId: entry.id,
    serverNodeId: state.activeServerNode(n.hostName)?.id ?? 0,
    partnerId: entry.partnerId,
    createdAt: Math.floor((n.updatedAt ?? 0) / 1000),
    updatedAt: Math.floor((n.updatedAt ?? 0) / 1000),
    status: n.status,
    serverType: String(n.index),
    applicationName: n.applicationName ?? '',
    streams: (n.streams ?? []).map((s) => ({ objectType: 'KalturaLiveStreamParams', ...s })),
  };
}

function visibleNodes(ctx: ActionContext, now: number): { entry: FixtureEntry; node: FixtureEntryServerNode }[] {
  const out: { entry: FixtureEntry; node: FixtureEntryServerNode }[] = [];
  for (const entry of ctx.state.entries.values()) {
    if (!visibleTo(ctx, entry.partnerId)) continue;
    for (const node of entryServerNodes(ctx.state, entry, now)) if (node.id !== undefined) out.push({ entry, node });
  }
  return out;
}

/** KalturaLiveStreamParamsArray from the request (a list, or an object keyed 0, 1 …). */
function streamsParam(tree: ParamTree): FixtureLiveStreamParams[] {
  const out: FixtureLiveStreamParams[] = [];
  for (const item of Object.values(tree)) {
    if (!isTree(item)) continue;
    const flavorId = fieldStr(item, 'flavorId');
    if (!flavorId) continue;
    const width = fieldInt(item, 'width');
    const height = fieldInt(item, 'height');
    const codec = fieldStr(item, 'codec');
    out.push({ flavorId, bitrate: fieldInt(item, 'bitrate') ?? 0, ...(width ? { width } : {}), ...(height ? { height } : {}), ...(codec ? { codec } : {}) });
  }
  return out;
}

const list: ActionSpec = {
  service: 'entryServerNode',
  action: 'list',
  ks: 'required',
  params: [
    { name: 'filter', type: 'object', optional: true },
    { name: 'pager', type: 'object', optional: true },
  ],
  handler(ctx, args) {
    const filter = args.obj('filter') ?? {};
    const entryIdEqual = fieldStr(filter, 'entryIdEqual');
    const serverTypeEqual = fieldStr(filter, 'serverTypeEqual');
    const statusEqual = fieldInt(filter, 'statusEqual');
    const found = visibleNodes(ctx, Date.now()).filter(
      ({ entry, node }) =>
        (entryIdEqual === undefined || entry.id === entryIdEqual) &&
        (serverTypeEqual === undefined || String(node.index) === serverTypeEqual) &&
        (statusEqual === undefined || node.status === statusEqual),
    );
    return listResponse('KalturaEntryServerNodeListResponse', found.map(({ entry, node }) => entryServerNodeObject(ctx.state, entry, node)));
  },
};

const update: ActionSpec = {
  service: 'entryServerNode',
  action: 'update',
  ks: 'required',
  params: [
    { name: 'id', type: 'int' },
    { name: 'entryServerNode', type: 'object' },
  ],
  handler(ctx, args) {
    const id = args.int('id');
    const now = Date.now();
    const found = visibleNodes(ctx, now).find(({ node }) => node.id === id);
    if (!found) throw apiError('INVALID_OBJECT_ID', id);
    const patch = args.obj('entryServerNode') ?? {};
    const streams = patch.streams;
    if (isTree(streams)) {
      const next = streamsParam(streams);
      // Propel saves (and moves updated_at) only when something changed.
      if (JSON.stringify(next) !== JSON.stringify(found.node.streams ?? [])) {
        found.node.streams = next;
        found.node.updatedAt = now;
      }
    }
    return entryServerNodeObject(ctx.state, found.entry, found.node);
  },
};

export const entryServerNodeActions: ActionSpec[] = [list, update];
