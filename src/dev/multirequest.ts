/**
 * Multirequest (kaltura/server KalturaFrontController::handleMultiRequest): requests are the
 * numeric groups of the params (`1:service=…` form keys or JSON `{"1": {"service": …}}`,
 * 0-based as the Node client sends them or 1-based), run in index order until one lacks
 * service or action. `ks`, `partnerId` and `clientTag` are inherited from the top level.
 * After each request, `{N:result[:path]}` inside later params (N counts executed requests
 * from 1) is replaced by that result's value at the path (`id`, `objects:0:id`, `objects:_all:id`);
 * a failed request's slot holds its exception. A file answer (serve) ends the multirequest and
 * is returned alone, as Kaltura does.
 */
import { dispatch, isDie, type DieResult, type EmulatorCall } from './dispatcher';
import { KalturaApiError } from './errors';
import { isTree, type ParamNode, type ParamTree } from './params';
import { isFileResult, type ApiValue, type CallOutcome, type FileResult } from './serialize';
import type { EmulatorState } from './state';

export interface MultiRequestResult {
  outcomes: CallOutcome[];
  /** Set when a file action answered: the whole response is that file (or its error). */
  file?: FileResult | DieResult;
  calls: EmulatorCall[];
}

const INHERITED = ['clientTag', 'ks', 'partnerId'] as const;

export function runMultiRequest(state: EmulatorState, params: ParamTree): MultiRequestResult {
  const requests = new Map<number, ParamTree>();
  const common: ParamTree = {};
  for (const [key, node] of Object.entries(params)) {
    if (/^\d+$/.test(key) && isTree(node)) requests.set(Number(key), clone(node));
    else common[key] = node;
  }
  const indices = [...requests.keys()];
  const first = Math.min(1, ...indices);
  const last = Math.max(1, ...indices);
  const result: MultiRequestResult = { outcomes: [], calls: [] };
  let executed = 0;
  for (let i = first; i <= last; i++) {
    const current = requests.get(i) ?? {};
    const service = current.service;
    const action = current.action;
    if (typeof service !== 'string' || typeof action !== 'string' || service === '' || action === '') break;
    for (const key of INHERITED) if (current[key] === undefined && common[key] !== undefined) current[key] = common[key];
    delete current.format;
    const { outcome, call } = dispatch(state, service, action, current);
    result.calls.push(call);
    executed++;
    if (isFileResult(outcome) || isDie(outcome)) {
      result.file = outcome;
      return result;
    }
    for (let j = i + 1; j <= last; j++) {
      const later = requests.get(j);
      if (later) requests.set(j, replaceReferences(later, executed, outcome) as ParamTree);
    }
    result.outcomes.push(outcome);
  }
  return result;
}

function replaceReferences(node: ParamNode, index: number, outcome: CallOutcome): ParamNode {
  if (isTree(node)) {
    const out: ParamTree = {};
    for (const [key, child] of Object.entries(node)) out[key] = replaceReferences(child, index, outcome);
    return out;
  }
  if (typeof node !== 'string') return node;
  const m = /\{([0-9]+):result:?(.*)?\}/.exec(node);
  if (!m || Number(m[1]) !== index) return node;
  const value = outcome instanceof KalturaApiError ? null : valueAt(outcome, (m[2] ?? '').split(':'));
  return node.split(m[0]).join(asText(value));
}

/** KalturaFrontController::getValueFromObject over an API value. */
function valueAt(value: ApiValue, path: string[]): ApiValue {
  const [head, ...rest] = path;
  if (head === undefined || head === '') return typeof value === 'object' && value !== null && !Array.isArray(value) ? null : value;
  if (Array.isArray(value)) {
    if (head === '_all') {
      const attr = rest[0] ?? '';
      return value
        .map((item) => (typeof item === 'object' && item !== null && !Array.isArray(item) ? item[attr] : undefined))
        .filter((v): v is ApiValue => v !== undefined && v !== null)
        .map((v) => `${asText(v)},`)
        .join('');
    }
    const item = value[Number(head)];
    return item === undefined ? null : valueAt(item, rest);
  }
  if (typeof value === 'object' && value !== null) {
    const child = value[head];
    return child === undefined ? null : valueAt(child, rest);
  }
  return null;
}

/** PHP's string conversion inside str_replace. */
function asText(value: ApiValue): string {
  if (value === null || value === false) return '';
  if (value === true) return '1';
  if (typeof value === 'object') return '';
  return String(value);
}

function clone(tree: ParamTree): ParamTree {
  const out: ParamTree = {};
  for (const [key, node] of Object.entries(tree)) out[key] = isTree(node) ? clone(node) : node;
  return out;
}
