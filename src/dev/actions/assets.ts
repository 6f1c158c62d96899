/**
 * flavorAsset.list and conversionProfileAssetParams.list. A live entry's assets are one
 * KalturaLiveAsset per flavor params of its conversion profile, with ids derived from the
 * entry and flavor (see liveAssetId).
 */
import { fieldInt, fieldStr } from '../args';
import { conversionProfileAssetParamsObject, listResponse, liveAssetObject } from '../objects';
import type { ApiObject } from '../serialize';
import { visibleTo, type ActionSpec } from './context';

const flavorAssetList: ActionSpec = {
  service: 'flavorAsset',
  action: 'list',
  ks: 'required',
  params: [
    { name: 'filter', type: 'object', optional: true },
    { name: 'pager', type: 'object', optional: true },
  ],
  handler(ctx, args) {
    const filter = args.obj('filter') ?? {};
    const ids = idSet(fieldStr(filter, 'entryIdEqual'), fieldStr(filter, 'entryIdIn'));
    const paramsId = fieldInt(filter, 'flavorParamsIdEqual');
    const objects: ApiObject[] = [];
    for (const entry of ctx.state.entries.values()) {
      if (!visibleTo(ctx, entry.partnerId) || (ids && !ids.has(entry.id))) continue;
      for (const f of ctx.state.flavorsOfProfile(entry.conversionProfileId)) {
        if (paramsId !== undefined && f.id !== paramsId) continue;
        objects.push(liveAssetObject(ctx.state, entry, f));
      }
    }
    return listResponse('KalturaFlavorAssetListResponse', objects);
  },
};

const conversionProfileAssetParamsList: ActionSpec = {
  service: 'conversionProfileAssetParams',
  action: 'list',
  ks: 'required',
  params: [
    { name: 'filter', type: 'object', optional: true },
    { name: 'pager', type: 'object', optional: true },
  ],
  handler(ctx, args) {
    const filter = args.obj('filter') ?? {};
    const profileIds = idSet(fieldStr(filter, 'conversionProfileIdEqual'), fieldStr(filter, 'conversionProfileIdIn'));
    const assetParamsIds = idSet(fieldStr(filter, 'assetParamsIdEqual'), fieldStr(filter, 'assetParamsIdIn'));
    const objects: ApiObject[] = [];
    for (const profile of ctx.state.profiles.values()) {
      // Partner 0 profiles are global, as Kaltura's default profiles are.
      if (profile.partnerId !== 0 && !visibleTo(ctx, profile.partnerId)) continue;
      if (profileIds && !profileIds.has(String(profile.id))) continue;
      for (const f of ctx.state.flavorsOfProfile(profile.id)) {
        if (assetParamsIds && !assetParamsIds.has(String(f.id))) continue;
        objects.push(conversionProfileAssetParamsObject(profile.id, f));
      }
    }
    return listResponse('KalturaConversionProfileAssetParamsListResponse', objects);
  },
};

/** `xEqual` and `xIn` (comma list) combined; undefined when neither filters. */
function idSet(equal: string | undefined, inList: string | undefined): Set<string> | undefined {
  if (equal === undefined && inList === undefined) return undefined;
  const set = new Set<string>();
  if (equal !== undefined) set.add(equal);
  if (inList !== undefined) for (const id of inList.split(',')) if (id.trim() !== '') set.add(id.trim());
  return set;
}

export const assetActions: ActionSpec[] = [flavorAssetList, conversionProfileAssetParamsList];
