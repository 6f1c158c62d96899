/** The emulator's service/action table; lookups are case-insensitive as in Kaltura. */
import { assetActions } from './assets';
import { entryServerNodeActions } from './entry-server-node';
import type { ActionSpec } from './context';
import { liveConversionProfileActions } from './live-conversion-profile';
import { liveServerNodeActions } from './live-server-node';
import { liveStreamActions } from './live-stream';
import { miscActions } from './misc';
import { serverNodeActions } from './server-node';
import { sessionActions } from './session';
import { uploadTokenActions } from './upload-token';

export type { ActionContext, ActionSpec } from './context';

const ALL: ActionSpec[] = [
  ...sessionActions,
  ...liveStreamActions,
  ...liveServerNodeActions,
  ...miscActions,
  ...assetActions,
  ...uploadTokenActions,
  ...serverNodeActions,
  ...entryServerNodeActions,
  ...liveConversionProfileActions,
];

const SERVICES = new Map<string, Map<string, ActionSpec>>();
for (const spec of ALL) {
  const service = spec.service.toLowerCase();
  let actions = SERVICES.get(service);
  if (!actions) SERVICES.set(service, (actions = new Map()));
  actions.set(spec.action.toLowerCase(), spec);
}

/** Actions of a service (by lower-cased id), or undefined for an unknown service. */
export function serviceActions(service: string): ReadonlyMap<string, ActionSpec> | undefined {
  return SERVICES.get(service.toLowerCase());
}
