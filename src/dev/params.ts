/**
 * Request parameters the way Kaltura's API v3 reads them (kaltura/server
 * alpha/apps/kaltura/lib/request/infraRequestUtils.class.php getRequestParams and
 * api_v3/lib/KalturaRequestDeserializer.php groupParams):
 *
 * - URL: query string, then `/key/value` pairs in the path after `/api_v3[/index.php]`
 *   (`/service/liveStream/action/get/entryId/0_abc`); path pairs win over the query.
 * - Body: JSON only when Content-Type is exactly `application/json` (case-insensitive, and
 *   the trimmed body must start with '{' and end with '}'); with `; charset=…` PHP sees
 *   neither JSON nor $_POST, so the body is ignored. `multipart/form-data` gives fields and
 *   files, or the JSON of a `json` field (what the official clients send with files).
 *   `application/x-www-form-urlencoded` gives fields.
 * - Precedence: URL params over files over body.
 * - Grouping: `beacon:objectType=…` and PHP's `filter[entryIdEqual]=…` both become nested
 *   trees; a trailing `:-` segment marks an explicit null and is dropped.
 */

export type ParamScalar = string | number | boolean | null;

/** A file part of a multipart body. */
export class UploadedFile {
  constructor(
    readonly name: string,
    readonly type: string,
    readonly data: Buffer,
  ) {}
}

export interface ParamTree {
  [key: string]: ParamNode;
}

export type ParamNode = ParamScalar | ParamTree | UploadedFile;

export function isTree(node: ParamNode | undefined): node is ParamTree {
  return typeof node === 'object' && node !== null && !(node instanceof UploadedFile);
}

export interface RawRequest {
  /** Path and query, as in `IncomingMessage.url`. */
  url: string;
  contentType: string | undefined;
  body: Buffer;
}

/** All params of one HTTP request, grouped into a tree. */
export async function readRequestParams(req: RawRequest): Promise<ParamTree> {
  const tree: ParamTree = {};
  const { post, files } = await bodyParams(req.contentType, req.body);
  mergeInto(tree, post);
  mergeInto(tree, files);
  mergeInto(tree, urlParams(req.url));
  return tree;
}

/** True when the path is under the API (`/api_v3`, `/api_v3/index.php`, with pairs or not). */
export function isApiPath(url: string): boolean {
  const path = url.split('?')[0];
  return /^\/api_v3(\/|$)/.test(path);
}

function urlParams(url: string): ParamTree {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const tree: ParamTree = {};
  if (q >= 0) {
    for (const [key, value] of new URLSearchParams(url.slice(q + 1))) setByKey(tree, key, value);
  }
  const segments = path
    .replace(/^\/api_v3(\/index\.php)?/, '')
    .split('/')
    .filter((s) => s !== '')
    .map(safeDecode);
  const pairs: ParamTree = {};
  for (let i = 0; i < segments.length; i += 2) {
    // PHP keeps the first occurrence of a repeated path key.
    if (!(segments[i] in pairs)) pairs[segments[i]] = segments[i + 1] ?? '';
  }
  for (const [key, value] of Object.entries(pairs)) setByKey(tree, key, value);
  return tree;
}

async function bodyParams(contentType: string | undefined, body: Buffer): Promise<{ post: ParamTree; files: ParamTree }> {
  const files: ParamTree = {};
  if (contentType === undefined || body.length === 0) return { post: {}, files };
  const lower = contentType.toLowerCase();
  if (lower === 'application/json') {
    return { post: jsonObject(body.toString('utf8').trim(), true) ?? {}, files };
  }
  if (lower.startsWith('multipart/form-data')) {
    const form = await parseMultipart(contentType, body);
    if (!form) return { post: {}, files };
    const fields: ParamTree = {};
    let json: ParamTree | null = null;
    for (const [key, value] of form) {
      if (typeof value === 'string') {
        if (key === 'json') json = jsonObject(value, false);
        setByKey(fields, key, value);
      } else {
        setByKey(files, key, new UploadedFile(value.name, value.type, Buffer.from(await value.arrayBuffer())));
      }
    }
    return { post: json ?? fields, files };
  }
  if (lower.startsWith('application/x-www-form-urlencoded')) {
    const fields: ParamTree = {};
    for (const [key, value] of new URLSearchParams(body.toString('utf8'))) setByKey(fields, key, value);
    return { post: fields, files };
  }
  return { post: {}, files };
}

/** Node's fetch `Request` parses multipart bodies per the spec; no hand-rolled parser needed. */
async function parseMultipart(contentType: string, body: Buffer): Promise<FormData | null> {
  try {
    return await new Request('http://emulator.invalid/', { method: 'POST', headers: { 'content-type': contentType }, body }).formData();
  } catch {
    return null;
  }
}

/** JSON object → tree; null when not a non-empty object (PHP's `if ($post)`). */
function jsonObject(text: string, requireBraces: boolean): ParamTree | null {
  if (requireBraces && !(text.startsWith('{') && text.endsWith('}'))) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const node = fromJson(value);
  if (!isTree(node) || Object.keys(node).length === 0) return null;
  // Keys such as "1:service" inside JSON are grouped like form keys.
  const tree: ParamTree = {};
  for (const [key, child] of Object.entries(node)) setByKey(tree, key, child);
  return tree;
}

function fromJson(value: unknown): ParamNode {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    const tree: ParamTree = {};
    value.forEach((item, i) => (tree[String(i)] = fromJson(item)));
    return tree;
  }
  if (typeof value === 'object') {
    const tree: ParamTree = {};
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) tree[key] = fromJson(child);
    return tree;
  }
  return null;
}

/** Sets `value` at the path named by a form key (`a:b:c`, `a[b][c]`, `1:filter[x]`). */
export function setByKey(tree: ParamTree, key: string, value: ParamNode): void {
  const path = keyPath(key);
  if (path.length === 0) return;
  if (path[path.length - 1] === '-') {
    // `field:-` is how clients send an explicit null: keep the parent, drop the leaf.
    path.pop();
    if (path.length === 0) return;
    setPath(tree, path, {}, true);
    return;
  }
  setPath(tree, path, value, false);
}

function keyPath(key: string): string[] {
  const bracket = key.indexOf('[');
  const base = bracket < 0 ? key : key.slice(0, bracket);
  const path = base.split(':');
  if (bracket >= 0) {
    for (const m of key.slice(bracket).matchAll(/\[([^\]]*)\]/g)) path.push(m[1]);
  }
  return path;
}

function setPath(tree: ParamTree, path: string[], value: ParamNode, onlyEnsure: boolean): void {
  let node = tree;
  for (let i = 0; i < path.length - 1; i++) {
    const next = node[path[i]];
    if (!isTree(next)) node[path[i]] = {};
    node = node[path[i]] as ParamTree;
  }
  const last = path[path.length - 1];
  if (onlyEnsure) {
    if (!isTree(node[last])) node[last] = {};
    return;
  }
  node[last] = isTree(value) && isTree(node[last]) ? mergeInto(node[last] as ParamTree, value) : value;
}

/** array_replace_recursive: `source` wins at leaves, trees merge. */
export function mergeInto(target: ParamTree, source: ParamTree): ParamTree {
  for (const [key, value] of Object.entries(source)) {
    const current = target[key];
    target[key] = isTree(value) && isTree(current) ? mergeInto(current, value) : value;
  }
  return target;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
