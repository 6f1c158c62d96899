/**
 * Response serialization in Kaltura's two main formats (kaltura/server api_v3/lib/
 * KalturaJsonSerializer.php, KalturaXmlSerializer.php, KalturaSerializer.php):
 *
 * - format=1 JSON: objects with `objectType`, nulls dropped; an exception is
 *   `{"code","message","objectType":"KalturaAPIException","args":{…}}` (`[]` when it has no
 *   args: PHP's empty array); a multirequest is a JSON array.
 * - format=2 XML (the default): `<?xml version="1.0" encoding="utf-8"?><xml><result>…</result>
 *   <executionTime>…</executionTime></xml>`; an object is `<objectType>…</objectType>` then one
 *   element per property; arrays are `<item>` elements; booleans are 1/0; an exception is
 *   `<error><code/><message/><objectType>KalturaAPIException</objectType><args><item>
 *   <objectType>KalturaApiExceptionArg</objectType><name/><value/></item></args></error>`;
 *   a multirequest is one `<item>` per result.
 */
import { KalturaApiError } from './errors';

export interface ApiObject {
  objectType: string;
  [key: string]: ApiValue | undefined;
}

export type ApiValue = string | number | boolean | null | ApiObject | ApiValue[];

/** What an action answers: a value, or a file (the `@return file` actions such as serve). */
export interface FileResult {
  kind: 'file';
  contentType: string;
  body: string;
}

export function isFileResult(value: unknown): value is FileResult {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'file';
}

/** One result slot: a value or the exception that replaced it. */
export type CallOutcome = ApiValue | KalturaApiError;

export type ResponseFormat = 'json' | 'xml';

export function serialize(format: ResponseFormat, outcome: CallOutcome, executionSeconds: number): string {
  return format === 'json' ? JSON.stringify(toJson(outcome)) : xmlDocument(xmlValue(outcome), executionSeconds);
}

export function serializeMulti(format: ResponseFormat, outcomes: CallOutcome[], executionSeconds: number): string {
  if (format === 'json') return JSON.stringify(outcomes.map(toJson));
  return xmlDocument(outcomes.map((o) => `<item>${xmlValue(o)}</item>`).join(''), executionSeconds);
}

/** The JSON form of a value or exception (nulls dropped, as KalturaJsonSerializer::unsetNull). */
export function toJson(outcome: CallOutcome): unknown {
  if (outcome instanceof KalturaApiError) {
    const args = Object.keys(outcome.args).length === 0 ? [] : outcome.args;
    return { code: outcome.code, message: outcome.message, objectType: 'KalturaAPIException', args };
  }
  return jsonValue(outcome);
}

function jsonValue(value: ApiValue): unknown {
  if (Array.isArray(value)) return value.map(jsonValue);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      if (key === 'objectType' || child === undefined || child === null) continue;
      out[key] = jsonValue(child);
    }
    out.objectType = value.objectType;
    return out;
  }
  return value;
}

function xmlDocument(inner: string, executionSeconds: number): string {
  return `<?xml version="1.0" encoding="utf-8"?><xml><result>${inner}</result><executionTime>${executionSeconds}</executionTime></xml>`;
}

function xmlValue(outcome: CallOutcome): string {
  if (outcome instanceof KalturaApiError) {
    const args = Object.entries(outcome.args)
      .map(
        ([name, value]) =>
          `<item><objectType>KalturaApiExceptionArg</objectType><name>${xmlEncode(name)}</name><value>${xmlEncode(value)}</value></item>`,
      )
      .join('');
    return (
      `<error><code>${xmlEncode(outcome.code)}</code><message>${xmlEncode(outcome.message)}</message>` +
      `<objectType>KalturaAPIException</objectType><args>${args}</args></error>`
    );
  }
  return xmlOf(outcome);
}

function xmlOf(value: ApiValue): string {
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number' || typeof value === 'string') return xmlEncode(String(value));
  if (Array.isArray(value)) return value.map((item) => `<item>${xmlOf(item)}</item>`).join('');
  let out = `<objectType>${xmlEncode(value.objectType)}</objectType>`;
  for (const [key, child] of Object.entries(value)) {
    if (key === 'objectType' || child === undefined || child === null) continue;
    out += `<${key}>${xmlOf(child)}</${key}>`;
  }
  return out;
}

/** kString::xmlEncode. */
export function xmlEncode(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/'/g, '&apos;');
}
