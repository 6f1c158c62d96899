/**
 * One HTTP request to `/api_v3/…` → one HTTP answer, on Kaltura's wire format: HTTP 200 for
 * API errors, `format=1` JSON, `format=2` (or none) XML, multirequest, and files (serve) sent
 * as-is. A file action that fails, or an unknown format, answers an empty body with
 * `X-Kaltura: error- <code>` / `X-Kaltura-App: exiting on error <code> - <message>` headers
 * (kRendererDieError).
 */
import { dispatch, isDie, type DieResult, type EmulatorCall } from './dispatcher';
import { apiError } from './errors';
import { runMultiRequest } from './multirequest';
import { isTree, readRequestParams, UploadedFile, type ParamNode, type RawRequest } from './params';
import { isFileResult, serialize, serializeMulti, type ResponseFormat } from './serialize';
import type { EmulatorState } from './state';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const CONTENT_TYPES: Record<ResponseFormat, string> = { json: 'application/json', xml: 'text/xml' };

export async function handleApiRequest(
  state: EmulatorState,
  req: RawRequest,
  record: (call: EmulatorCall) => void,
): Promise<HttpAnswer> {
  const started = process.hrtime.bigint();
  const params = await readRequestParams(req);
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  const format = responseFormat(params.format);
  if (format === null) {
    const err = apiError('UNKNOWN_RESPONSE_FORMAT', text(params.format));
    return die({ kind: 'die', code: err.code, message: err.message });
  }
  const service = text(params.service);
  const action = text(params.action);

  if (service === 'multirequest') {
    const multi = runMultiRequest(state, params);
    multi.calls.forEach(record);
    if (multi.file) return isDie(multi.file) ? die(multi.file) : answer(multi.file.contentType, multi.file.body);
    return answer(CONTENT_TYPES[format], serializeMulti(format, multi.outcomes, elapsed()));
  }

  const { outcome, call } = dispatch(state, service || null, action || null, params);
  record(call);
  if (isDie(outcome)) return die(outcome);
  if (isFileResult(outcome)) return answer(outcome.contentType, outcome.body);
  return answer(CONTENT_TYPES[format], serialize(format, outcome, elapsed()));
}

function responseFormat(node: ParamNode | undefined): ResponseFormat | null {
  if (node === undefined || node === null || node === '') return 'xml';
  const value = text(node);
  if (value === '1') return 'json';
  if (value === '2') return 'xml';
  return null;
}

function text(node: ParamNode | undefined): string {
  if (node === undefined || node === null || isTree(node) || node instanceof UploadedFile) return '';
  return typeof node === 'boolean' ? (node ? '1' : '') : String(node);
}

function answer(contentType: string, body: string): HttpAnswer {
  return { status: 200, headers: { 'Content-Type': contentType }, body };
}

function die(d: DieResult): HttpAnswer {
  return {
    status: 200,
    headers: {
      'X-Kaltura': `error- ${d.code}`,
      'X-Kaltura-App': headerSafe(`exiting on error ${d.code} - ${d.message}`),
    },
    body: '',
  };
}

/** Header values must be Latin-1 without control characters. */
function headerSafe(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '?');
}
