/**
 * One API call, in the order kaltura/server runs its checks (KalturaDispatcher::dispatch,
 * kCurrentContext::initKsPartnerUser, kPermissionManager::init, KalturaBaseService::initService):
 *
 * 1. service known (SERVICE_DOES_NOT_EXISTS), action given and known (ACTION_DOES_NOT_EXISTS);
 * 2. the KS cracks and its signature matches the partner's admin secret, else
 *    `INVALID_KS: Invalid KS "<the ks>", Error "-1,INVALID_STR"`;
 * 3. arguments (MISSING_MANDATORY_PARAMETER) — before any permission check, as in Kaltura;
 * 4. KS validity: expired / logged out → `Invalid KS "EXPIRED"|"LOGOUT", Error "-1,INVALID_STR"`
 *    (Kaltura has no EXPIRED_KS code);
 * 5. the requested partner (`partnerId` / `p` param) exists, else SERVICE_FORBIDDEN_CONTENT_BLOCKED;
 * 6. a partner session is there (MISSING_KS), the KS partner may act for the requested partner
 *    (its partner group; '*' for the media-server partner -5), else SERVICE_FORBIDDEN
 *    `The access to service [<service>-><action>] is forbidden`;
 * 7. the action runs; a `file` action's error becomes an empty answer with X-Kaltura headers.
 */
import { serviceActions, type ActionContext, type ActionSpec } from './actions';
import { buildArgs, phpBool, phpInt, phpString } from './args';
import { apiError, KalturaApiError } from './errors';
import { ksValidity, parseKs, type KsSession } from './ks-verify';
import { isTree, UploadedFile, type ParamNode, type ParamScalar, type ParamTree } from './params';
import type { ApiValue, FileResult } from './serialize';
import { nowSeconds, type EmulatorState } from './state';

/** A logged parameter: KS and secrets redacted, files summarized. */
export type LoggedParam = ParamScalar | { file: string; size: number } | LoggedParams;
export interface LoggedParams {
  [key: string]: LoggedParam;
}

export interface EmulatorCall {
  /** ms since the epoch. */
  time: number;
  service: string;
  action: string;
  /** The effective partner (impersonated or KS partner), null when none was established. */
  partnerId: number | null;
  params: LoggedParams;
  /** 'OK' or the Kaltura error code answered. */
  result: string;
}

/** A `file` action that failed: Kaltura answers nothing but `X-Kaltura: error- <code>` headers. */
export interface DieResult {
  kind: 'die';
  code: string;
  message: string;
}

export type DispatchOutcome = ApiValue | KalturaApiError | FileResult | DieResult;

export const REDACTED = '[redacted]';

export function dispatch(
  state: EmulatorState,
  service: string | null,
  action: string | null,
  params: ParamTree,
): { outcome: DispatchOutcome; call: EmulatorCall } {
  const call: EmulatorCall = {
    time: Date.now(),
    service: service ?? '',
    action: action ?? '',
    partnerId: null,
    params: redact(params),
    result: 'OK',
  };
  let spec: ActionSpec | undefined;
  let outcome: DispatchOutcome;
  try {
    spec = lookup(service, action);
    call.service = spec.service;
    call.action = spec.action;
    outcome = run(state, spec, params, call);
  } catch (error) {
    const apiErr = error instanceof KalturaApiError ? error : apiError('INTERNAL_SERVERL_ERROR');
    outcome = apiErr;
  }
  if (outcome instanceof KalturaApiError) call.result = outcome.code;
  else if (isDie(outcome)) call.result = outcome.code;
  return { outcome, call };
}

export function isDie(value: unknown): value is DieResult {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'die';
}

function lookup(service: string | null, action: string | null): ActionSpec {
  if (!service) throw apiError('SERVICE_NOT_SPECIFIED');
  const serviceId = service.toLowerCase();
  const actions = serviceActions(serviceId);
  if (!actions) throw apiError('SERVICE_DOES_NOT_EXISTS', serviceId);
  if (!action) throw apiError('ACTION_NOT_SPECIFIED');
  const spec = actions.get(action.toLowerCase());
  if (!spec) throw apiError('ACTION_DOES_NOT_EXISTS', action.toLowerCase(), serviceId);
  return spec;
}

function run(state: EmulatorState, spec: ActionSpec, params: ParamTree, call: EmulatorCall): DispatchOutcome {
  const ks = scalar(params.ks);
  const ksString = ks === undefined ? '' : phpString(ks);
  let requested = requestedPartner(params, ksString !== '');
  call.partnerId = requested;

  let session: KsSession | null = null;
  if (ksString !== '') {
    const parsed = parseKs(ksString, (pid) => state.adminSecretsOf(pid));
    if (!parsed.ok) throw apiError('INVALID_KS', ksString, -1, 'INVALID_STR');
    session = parsed.session;
    // Asking for partner 0 with a real partner's KS means "no impersonation" in Kaltura.
    if (requested === 0 && session.partnerId > 0) requested = null;
    call.partnerId = requested ?? session.partnerId;
  }

  const args = buildArgs(spec.params, params);

  if (session) {
    const validity = ksValidity(session, nowSeconds(), (hash) => state.loggedOut.has(hash));
    if (validity !== 'OK') throw apiError('INVALID_KS', validity, -1, 'INVALID_STR');
  }
  if (requested !== null && !state.partners.has(requested)) throw apiError('SERVICE_FORBIDDEN_CONTENT_BLOCKED');

  const ksPartner = session?.partnerId ?? null;
  const effective = requested ?? ksPartner;
  const forbidden = () => apiError('SERVICE_FORBIDDEN', `${spec.service.toLowerCase()}->${spec.action}`);
  let scope: ActionContext['scope'] = effective;
  if (spec.ks === 'required') {
    if (effective === null) throw apiError('MISSING_KS');
    if (!session) throw forbidden();
    if (session.type < 1 && !USER_KS_ACTIONS.has(`${spec.service}.${spec.action}`)) throw forbidden();
  }
  if (session && ksPartner !== null) {
    const group = state.partnerGroupOf(ksPartner);
    if (requested !== null && requested !== ksPartner) {
      // serve-like anonymous actions skip the partner-access check (their isPermitted is true).
      if (spec.ks === 'required' && group !== '*' && !group.includes(requested)) throw forbidden();
      scope = requested;
    } else {
      scope = group === '*' ? '*' : ksPartner;
    }
  }

  const ctx: ActionContext = {
    state,
    partnerId: effective,
    requestedPartnerId: requested,
    session,
    scope,
    service: spec.service,
    action: spec.action,
  };
  try {
    return spec.handler(ctx, args);
  } catch (error) {
    const apiErr = error instanceof KalturaApiError ? error : apiError('INTERNAL_SERVERL_ERROR');
    if (spec.returnsFile) return { kind: 'die', code: apiErr.code, message: apiErr.message };
    throw apiErr;
  }
}

/** Actions a user (non-admin) KS may call; everything else here is an admin operation. */
const USER_KS_ACTIONS = new Set(['beacon_beacon.add', 'session.end', 'uploadToken.add', 'uploadToken.upload', 'uploadToken.get']);

/** KalturaDispatcher: `p`, else `partnerId`; a falsy value counts only alongside a KS. */
function requestedPartner(params: ParamTree, hasKs: boolean): number | null {
  for (const key of ['p', 'partnerId']) {
    const v = scalar(params[key]);
    if (v === undefined || v === null) continue;
    if (phpBool(v) || hasKs) return phpInt(v);
  }
  return null;
}

function scalar(node: ParamNode | undefined): ParamScalar | undefined {
  if (node === undefined || isTree(node) || node instanceof UploadedFile) return undefined;
  return node;
}

function redact(tree: ParamTree): LoggedParams {
  const out: LoggedParams = {};
  for (const [key, node] of Object.entries(tree)) {
    if (key === 'ks' || key === 'secret') out[key] = REDACTED;
    else if (node instanceof UploadedFile) out[key] = { file: node.name, size: node.data.length };
    else if (isTree(node)) out[key] = redact(node);
    else out[key] = node;
  }
  return out;
}
