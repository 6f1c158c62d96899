/**
 * Kaltura API v3 client: one HTTP POST per call (or per multirequest), JSON in and out.
 *
 * Wire format (kaltura/server api_v3/lib/KalturaFrontController.php, alpha/apps/kaltura/lib/
 * request/infraRequestUtils.class.php getRequestParams):
 * - `POST {serviceUrl}/api_v3/service/{service}/action/{action}`, body JSON with the action's
 *   params plus `format: 1` (JSON answers), `ks`, `clientTag`, `apiVersion`, and `partnerId`
 *   when impersonating. Kaltura reads a JSON body only when Content-Type is exactly
 *   `application/json` (it compares the whole header), so no charset is appended.
 * - Errors come back as HTTP 200 `{objectType: 'KalturaAPIException', code, message, args}`.
 * - Multirequest: `POST {serviceUrl}/api_v3/service/multirequest` (the URL the official clients
 *   use) with keys `1:service`, `1:action`, `1:<param>` … (1-based). Kaltura's
 *   handleMultiRequest also accepts `"1": {service, action, …}` (what the official JSON clients
 *   send, 0-based); we use the flat form because DESIGN.md specifies it and every Kaltura
 *   version accepts it. Nested objects stay JSON objects under their flat key
 *   (`"1:beacon": {objectType: …}`), which the server groups per request before
 *   deserialising. Common `ks`, `clientTag` and `partnerId` are copied by the server into each
 *   request that does not set its own. The answer is a JSON array, one element per request,
 *   each either a result or an exception object.
 * - uploadToken.upload: multipart/form-data with the params as plain form fields and the file
 *   part `fileData` last (with no `json` part, the server takes $_POST plus $_FILES).
 *
 * Transport: got v11. got v12+ is ESM-only (v14 needs Node >= 20, v16 Node >= 22); this
 * package is CommonJS run by tsx, and `require()` of ESM only works unflagged from Node 20.19,
 * while package.json promises Node >= 20. got 11 is CommonJS and works on every Node 20.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import got, { RequestError, TimeoutError, type Response } from 'got';
import type { AdminSession } from './admin-session';
import { KalturaApiError, KalturaNetworkError, redact, type KalturaNetworkErrorCode } from './errors';
import type { KalturaRequest } from './types';

export const DEFAULT_API_VERSION = '22.19.0';

export interface KalturaLogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  /** request: sent; response: answered; retry: transport retry; renew: KS renewed after INVALID_KS; failure: call failed. */
  event: 'request' | 'response' | 'retry' | 'renew' | 'failure';
  service: string;
  action: string;
  attempt?: number;
  durationMs?: number;
  status?: number;
  code?: string;
  message?: string;
  impersonatePartnerId?: number;
}

export interface KalturaClientOptions {
  /** e.g. https://www.kaltura.com (no /api_v3). */
  serviceUrl: string;
  /** The partner the admin KS belongs to (informational: the KS carries it). */
  partnerId: number;
  /** Per HTTP attempt. */
  timeoutMs: number;
  /** klive-server:<hostname>; Kaltura logs it with every request. */
  clientTag: string;
  session: AdminSession;
  /** Transport retries for read-only calls; default 3. */
  retries?: number;
  /** First backoff delay; doubled per retry, ±25 % jitter. Default 200 ms. */
  retryBaseMs?: number;
  apiVersion?: string;
  log?: (entry: KalturaLogEntry) => void;
}

export interface CallOptions {
  /** Act on behalf of this partner (`partnerId` request param); needs a partner -5 / admin KS. */
  impersonatePartnerId?: number;
  /** Safe to repeat: network errors, timeouts and 5xx are retried with backoff. */
  readOnly?: boolean;
  /** Overrides the client's per-attempt timeout. */
  timeoutMs?: number;
  /** Use this KS instead of the admin session's. No renewal on INVALID_KS then (we cannot mint it). */
  ks?: string;
}

/** A file for a multipart upload: a byte range of a file on disk, or bytes in memory. */
export type UploadSource =
  | { path: string; /** first byte, default 0 */ start?: number; /** end, exclusive; default EOF */ end?: number; fileName?: string }
  | { data: Buffer; fileName?: string };

export interface ActionLatency {
  count: number;
  totalMs: number;
  maxMs: number;
}

export interface KalturaClientStats {
  /** Epoch ms of the last call that resolved. */
  lastSuccessAt?: number;
  /** Duration of the last HTTP exchange that got an answer. */
  lastLatencyMs?: number;
  /** Calls made (a multirequest counts once; retries do not count). */
  calls: number;
  /** Every error seen, by Kaltura or transport code, including ones a retry recovered from. */
  errorsByCode: Record<string, number>;
  /** HTTP exchanges that got an answer, by `service.action`. */
  latencyByAction: Record<string, ActionLatency>;
}

/**
 * What an observer (metrics, diagnostics) sees: each HTTP exchange that got an answer, with its
 * latency, and each error by Kaltura or transport code (retried ones included). Messages are
 * already scrubbed of the KS.
 */
export type KalturaCallObservation =
  | { kind: 'exchange'; service: string; action: string; durationMs: number; status: number }
  | { kind: 'error'; service: string; action: string; code: string; message: string }
  /**
   * A call failed for good (after retries and KS renewal): what the caller gets. `transport`
   * when Kaltura gave no answer (timeout, network, HTTP status, unreadable body).
   */
  | { kind: 'failure'; service: string; action: string; code: string; message: string; transport: boolean };

export type KalturaCallObserver = (observation: KalturaCallObservation) => void;

type Parsed = { kind: 'json'; value: unknown } | { kind: 'text'; value: string };

interface RequestSpec {
  service: string;
  action: string;
  path: string;
  /** Built per attempt: the KS may change between attempts, and a stream body is single-use. */
  body: (ks: string) => Promise<{ payload: string | Buffer | Readable; headers: Record<string, string> }>;
  expect: 'json' | 'text';
}

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/xml;q=0.9, */*;q=0.8' };

export class KalturaClient {
  private readonly serviceUrl: string;
  private readonly timeoutMs: number;
  private readonly clientTag: string;
  private readonly session: AdminSession;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly apiVersion: string;
  private readonly logFn?: (entry: KalturaLogEntry) => void;
  readonly partnerId: number;
  private readonly counters: KalturaClientStats = { calls: 0, errorsByCode: {}, latencyByAction: {} };
  private readonly observers = new Set<KalturaCallObserver>();

  constructor(opts: KalturaClientOptions) {
    this.serviceUrl = opts.serviceUrl.replace(/\/+$/, '');
    this.partnerId = opts.partnerId;
    this.timeoutMs = opts.timeoutMs;
    this.clientTag = opts.clientTag;
    this.session = opts.session;
    this.retries = opts.retries ?? 3;
    this.retryBaseMs = opts.retryBaseMs ?? 200;
    this.apiVersion = opts.apiVersion ?? DEFAULT_API_VERSION;
    this.logFn = opts.log;
  }

  /** Call one action; resolves with its JSON result, rejects with KalturaApiError / KalturaNetworkError. */
  async call<T>(service: string, action: string, params: Record<string, unknown> = {}, opts: CallOptions = {}): Promise<T> {
    const parsed = await this.run(this.jsonSpec(service, action, actionPath(service, action), params, opts), opts);
    return parsed.value as T;
  }

  /** Call an action that answers with a document rather than JSON (e.g. a `serve` action's XML). */
  async callText(service: string, action: string, params: Record<string, unknown> = {}, opts: CallOptions = {}): Promise<string> {
    const spec = { ...this.jsonSpec(service, action, actionPath(service, action), params, opts), expect: 'text' as const };
    const parsed = await this.run(spec, opts);
    return parsed.value as string;
  }

  /** Call an action that takes a file (multipart/form-data; the file goes in `fileField`). */
  async callUpload<T>(
    service: string,
    action: string,
    params: Record<string, string | number | boolean | undefined>,
    file: UploadSource,
    opts: CallOptions & { fileField?: string } = {},
  ): Promise<T> {
    const spec: RequestSpec = {
      service,
      action,
      path: actionPath(service, action),
      expect: 'json',
      body: async (ks) => multipartBody({ ...params, ...this.envelope(ks, opts) }, opts.fileField ?? 'fileData', file),
    };
    const parsed = await this.run(spec, opts);
    return parsed.value as T;
  }

  /**
   * Several calls in one HTTP request. Each element of the answer is the call's result or a
   * KalturaApiError (not thrown: the other calls may have succeeded).
   */
  async multirequest(requests: KalturaRequest[], opts: CallOptions = {}): Promise<Array<unknown | KalturaApiError>> {
    const flat: Record<string, unknown> = {};
    requests.forEach((req, i) => {
      const n = i + 1;
      for (const [k, v] of Object.entries(req.params ?? {})) flat[`${n}:${k}`] = v;
      flat[`${n}:service`] = req.service;
      flat[`${n}:action`] = req.action;
    });
    const spec = this.jsonSpec('multirequest', 'multirequest', '/api_v3/service/multirequest', flat, opts);
    const parsed = await this.run(spec, opts, requests);
    return parsed.value as Array<unknown | KalturaApiError>;
  }

  /** Watch every exchange and error (see KalturaCallObservation). Returns the unsubscribe function. */
  observe(observer: KalturaCallObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  stats(): KalturaClientStats {
    const latency: Record<string, ActionLatency> = {};
    for (const [k, v] of Object.entries(this.counters.latencyByAction)) latency[k] = { ...v };
    return { ...this.counters, errorsByCode: { ...this.counters.errorsByCode }, latencyByAction: latency };
  }

  // -------------------------------------------------------------------------------------------

  private envelope(ks: string, opts: CallOptions): Record<string, string | number> {
    const env: Record<string, string | number> = { format: 1, ks, clientTag: this.clientTag, apiVersion: this.apiVersion };
    if (opts.impersonatePartnerId !== undefined) env.partnerId = opts.impersonatePartnerId;
    return env;
  }

  private jsonSpec(service: string, action: string, path: string, params: Record<string, unknown>, opts: CallOptions): RequestSpec {
    return {
      service,
      action,
      path,
      expect: 'json',
      body: async (ks) => ({
        // null means "not set" for Kaltura (it nulls fields only via `<field>__null`), so drop it.
        payload: JSON.stringify({ ...params, ...this.envelope(ks, opts) }, (_k, v: unknown) => (v === null ? undefined : v)),
        headers: JSON_HEADERS,
      }),
    };
  }

  /** One logical call: transport (with retries) + INVALID_KS renewal and a single replay. */
  private async run(spec: RequestSpec, opts: CallOptions, multi?: KalturaRequest[]): Promise<Parsed> {
    this.counters.calls++;
    const ownKs = opts.ks === undefined;
    for (let replay = 0; ; replay++) {
      const ks = opts.ks ?? this.session.ks();
      try {
        const response = await this.send(spec, ks, opts);
        const parsed = this.parse(spec, response, ks, multi);
        if (multi && parsed.kind === 'json' && ownKs && replay === 0 && allInvalidKs(parsed.value)) {
          // Every item refused the KS, so nothing ran: renewing and replaying is safe.
          this.renewAfterInvalidKs(spec, ks);
          continue;
        }
        this.counters.lastSuccessAt = Date.now();
        return parsed;
      } catch (err) {
        if (err instanceof KalturaApiError) this.countError(err.code, spec.service, spec.action, err.message);
        if (err instanceof KalturaApiError && err.code === 'INVALID_KS' && ownKs && replay === 0) {
          this.renewAfterInvalidKs(spec, ks);
          continue;
        }
        this.notify({
          kind: 'failure',
          service: spec.service,
          action: spec.action,
          code: String((err as { code?: unknown }).code ?? 'UNKNOWN'),
          message: (err as Error).message,
          transport: !(err instanceof KalturaApiError),
        });
        this.emit({
          level: 'warn',
          event: 'failure',
          service: spec.service,
          action: spec.action,
          code: (err as { code?: string }).code,
          message: (err as Error).message,
          impersonatePartnerId: opts.impersonatePartnerId,
        });
        throw err;
      }
    }
  }

  private renewAfterInvalidKs(spec: RequestSpec, refusedKs: string): void {
    this.session.invalidate(refusedKs);
    this.emit({ level: 'info', event: 'renew', service: spec.service, action: spec.action, code: 'INVALID_KS' });
  }

  /** HTTP exchange with transport retries (read-only calls only). Resolves on HTTP 200. */
  private async send(spec: RequestSpec, ks: string, opts: CallOptions): Promise<Response<Buffer>> {
    const maxAttempts = opts.readOnly ? 1 + Math.max(0, this.retries) : 1;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const key = `${spec.service}.${spec.action}`;
    for (let attempt = 1; ; attempt++) {
      const { payload, headers } = await spec.body(ks);
      this.emit({ level: 'debug', event: 'request', service: spec.service, action: spec.action, attempt, impersonatePartnerId: opts.impersonatePartnerId });
      const started = performance.now();
      let failure: { code: KalturaNetworkErrorCode; message: string; status?: number };
      try {
        const response = await got(this.serviceUrl + spec.path, {
          method: 'POST',
          body: payload,
          headers: { 'user-agent': 'klive-server', ...headers },
          responseType: 'buffer',
          throwHttpErrors: false,
          followRedirect: false,
          retry: 0,
          timeout: { request: timeoutMs },
        });
        const durationMs = performance.now() - started;
        this.recordLatency(key, durationMs);
        this.notify({ kind: 'exchange', service: spec.service, action: spec.action, durationMs, status: response.statusCode });
        this.emit({ level: 'debug', event: 'response', service: spec.service, action: spec.action, attempt, durationMs, status: response.statusCode });
        if (response.statusCode === 200) return response;
        failure = { code: 'HTTP_STATUS', status: response.statusCode, message: `HTTP ${response.statusCode} from ${key}` };
      } catch (err) {
        if (payload instanceof Readable) payload.destroy();
        failure =
          err instanceof TimeoutError
            ? { code: 'TIMEOUT', message: `${key} timed out after ${timeoutMs} ms` }
            : { code: 'NETWORK', message: `${key} failed: ${err instanceof RequestError ? `${err.code ?? ''} ${err.message}`.trim() : String(err)}` };
      }
      this.countError(failure.code, spec.service, spec.action, redact(failure.message, [ks]));
      const retryable = failure.code !== 'HTTP_STATUS' || (failure.status !== undefined && failure.status >= 500);
      if (retryable && attempt < maxAttempts) {
        const delay = this.retryBaseMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5);
        this.emit({ level: 'info', event: 'retry', service: spec.service, action: spec.action, attempt, code: failure.code, status: failure.status, message: `retrying in ${Math.round(delay)} ms` });
        await sleep(delay);
        continue;
      }
      throw new KalturaNetworkError({
        code: failure.code,
        message: redact(failure.message, [ks]),
        service: spec.service,
        action: spec.action,
        status: failure.status,
        attempts: attempt,
      });
    }
  }

  private parse(spec: RequestSpec, response: Response<Buffer>, ks: string, multi?: KalturaRequest[]): Parsed {
    const text = response.body.toString('utf8');
    const trimmed = text.trim();
    const looksJson = trimmed.startsWith('{') || trimmed.startsWith('[') || trimmed === 'null' || /^(true|false|-?\d)/.test(trimmed) || trimmed.startsWith('"');
    if (spec.expect === 'text' && !looksJson) {
      if (trimmed === '') throw fileActionError(spec, response, ks) ?? this.badResponse(spec, 'empty body');
      return { kind: 'text', value: text };
    }
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      throw this.badResponse(spec, `not JSON: ${redact(trimmed.slice(0, 120), [ks])}`);
    }
    const exception = asException(value, spec.service, spec.action, ks);
    if (exception) throw exception;
    if (spec.expect === 'text') throw this.badResponse(spec, 'expected a document, got a JSON value');
    if (multi) {
      if (!Array.isArray(value)) throw this.badResponse(spec, 'multirequest answer is not an array');
      const items = value.map((item, i) => {
        const req = multi[i];
        const err = asException(item, req?.service ?? 'multirequest', req?.action ?? String(i + 1), ks);
        if (err) this.countError(err.code, err.service, err.action, err.message);
        return err ?? item;
      });
      return { kind: 'json', value: items };
    }
    return { kind: 'json', value };
  }

  private badResponse(spec: RequestSpec, why: string): KalturaNetworkError {
    this.countError('BAD_RESPONSE', spec.service, spec.action, `${spec.service}.${spec.action}: ${why}`);
    return new KalturaNetworkError({ code: 'BAD_RESPONSE', message: `${spec.service}.${spec.action}: ${why}`, service: spec.service, action: spec.action, status: 200, attempts: 1 });
  }

  private countError(code: string, service: string, action: string, message: string): void {
    this.counters.errorsByCode[code] = (this.counters.errorsByCode[code] ?? 0) + 1;
    this.notify({ kind: 'error', service, action, code, message });
  }

  private notify(observation: KalturaCallObservation): void {
    for (const observer of this.observers) {
      try {
        observer(observation);
      } catch {
        // An observer's bug must not break API calls.
      }
    }
  }

  private recordLatency(key: string, ms: number): void {
    const entry = (this.counters.latencyByAction[key] ??= { count: 0, totalMs: 0, maxMs: 0 });
    entry.count++;
    entry.totalMs += ms;
    entry.maxMs = Math.max(entry.maxMs, ms);
    this.counters.lastLatencyMs = ms;
  }

  private emit(entry: KalturaLogEntry): void {
    if (!this.logFn) return;
    try {
      this.logFn(entry);
    } catch {
      // A broken logger must not break API calls.
    }
  }
}

function actionPath(service: string, action: string): string {
  return `/api_v3/service/${encodeURIComponent(service)}/action/${encodeURIComponent(action)}`;
}

function asException(value: unknown, service: string, action: string, ks: string): KalturaApiError | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const obj = value as Record<string, unknown>;
  if (obj.objectType !== 'KalturaAPIException') return undefined;
  return new KalturaApiError({
    code: String(obj.code ?? 'UNKNOWN'),
    // Kaltura does not echo the KS in its messages today; scrub it anyway in case a version does.
    message: redact(String(obj.message ?? ''), [ks]),
    args: obj.args,
    service,
    action,
  });
}

/**
 * A `@return file` action (wowza_liveConversionProfile.serve) that failed answers an empty
 * body with `X-Kaltura: error-<CODE>` and `X-Kaltura-App: exiting on error <CODE> - <message>`
 * (KalturaFrontController / KalturaDispatcher::dieOnError): the exception, as a JSON call's.
 */
function fileActionError(spec: RequestSpec, response: Response<Buffer>, ks: string): KalturaApiError | undefined {
  const header = (name: string): string => {
    const v = response.headers[name];
    return (Array.isArray(v) ? v[0] : v) ?? '';
  };
  const code = /^error-\s*([A-Z0-9_]+)/.exec(header('x-kaltura'))?.[1];
  if (code === undefined) return undefined;
  const app = /^exiting on error [A-Z0-9_]+ - (.*)$/s.exec(header('x-kaltura-app'));
  return new KalturaApiError({ code, message: redact(app ? app[1] : code, [ks]), service: spec.service, action: spec.action });
}

function allInvalidKs(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0 && value.every((v) => v instanceof KalturaApiError && v.code === 'INVALID_KS');
}

async function multipartBody(
  fields: Record<string, string | number | boolean | undefined>,
  fileField: string,
  file: UploadSource,
): Promise<{ payload: Readable; headers: Record<string, string> }> {
  const boundary = `----klive${randomBytes(12).toString('hex')}`;
  let head = '';
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${quoteName(name)}"\r\n\r\n${String(value)}\r\n`;
  }
  const fileName = file.fileName ?? ('path' in file ? file.path.split('/').pop() ?? 'file' : 'chunk');
  head += `--${boundary}\r\nContent-Disposition: form-data; name="${quoteName(fileField)}"; filename="${quoteName(fileName)}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const headBuf = Buffer.from(head, 'utf8');

  let size: number;
  let content: () => AsyncIterable<Buffer>;
  if ('data' in file) {
    size = file.data.length;
    content = async function* () {
      yield file.data;
    };
  } else {
    // Clamped to the file: Content-Length is declared up front and must match what is read.
    const fileSize = (await stat(file.path)).size;
    const start = Math.min(file.start ?? 0, fileSize);
    const end = Math.min(file.end ?? fileSize, fileSize);
    size = Math.max(0, end - start);
    content = () => (size === 0 ? Readable.from([]) : createReadStream(file.path, { start, end: end - 1 }));
  }
  async function* parts(): AsyncGenerator<Buffer> {
    yield headBuf;
    for await (const chunk of content()) yield chunk as Buffer;
    yield tail;
  }
  return {
    payload: Readable.from(parts(), { objectMode: false }),
    headers: {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      // A known length avoids chunked request bodies, which not every PHP front end accepts.
      'content-length': String(headBuf.length + size + tail.length),
      accept: 'application/json',
    },
  };
}

function quoteName(name: string): string {
  return name.replace(/["\r\n]/g, '_');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
