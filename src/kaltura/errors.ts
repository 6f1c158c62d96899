/**
 * Typed errors of the Kaltura layer. Every error carries a stable `code` so callers branch on
 * it, never on message text. None of them ever holds the admin secret, and none holds a KS:
 * messages that come back from the server are scrubbed of the KS that was sent (see redact()).
 */

/** An exception Kaltura answered with (HTTP 200, objectType KalturaAPIException). */
export class KalturaApiError extends Error {
  override readonly name = 'KalturaApiError';
  /** Kaltura's error code, e.g. INVALID_KS, ENTRY_ID_NOT_FOUND, LIVE_STREAM_INVALID_TOKEN. */
  readonly code: string;
  /** Named arguments of the error (Kaltura sends `[]` when there are none; normalised to {}). */
  readonly args: Record<string, string>;
  readonly service: string;
  readonly action: string;

  constructor(init: { code: string; message: string; args?: unknown; service: string; action: string }) {
    super(init.message);
    this.code = init.code;
    this.args = normaliseArgs(init.args);
    this.service = init.service;
    this.action = init.action;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, args: this.args, service: this.service, action: this.action };
  }
}

export type KalturaNetworkErrorCode =
  /** No complete answer within the call's timeout. */
  | 'TIMEOUT'
  /** Connection refused / reset / DNS failure… */
  | 'NETWORK'
  /** An HTTP status other than 200 (Kaltura answers API errors with 200). */
  | 'HTTP_STATUS'
  /** HTTP 200 whose body is not what the action returns (not JSON, wrong shape…). */
  | 'BAD_RESPONSE';

/** The API could not be reached, or answered something that is not a Kaltura response. */
export class KalturaNetworkError extends Error {
  override readonly name = 'KalturaNetworkError';
  readonly code: KalturaNetworkErrorCode;
  readonly service: string;
  readonly action: string;
  /** HTTP status when one was received. */
  readonly status?: number;
  /** How many HTTP attempts were made before giving up. */
  readonly attempts: number;

  constructor(init: {
    code: KalturaNetworkErrorCode;
    message: string;
    service: string;
    action: string;
    status?: number;
    attempts: number;
  }) {
    super(init.message);
    this.code = init.code;
    this.service = init.service;
    this.action = init.action;
    this.status = init.status;
    this.attempts = init.attempts;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      service: this.service,
      action: this.action,
      status: this.status,
      attempts: this.attempts,
    };
  }
}

export type KsErrorCode =
  /** Not base64, or not a v1/v2 KS layout. */
  | 'KS_MALFORMED'
  /** Layout fine but the signature does not match the secret (tampered or foreign-signed). */
  | 'KS_BAD_SIGNATURE'
  /** A field cannot be encoded in this KS version (e.g. ';' in a v1 user id). */
  | 'KS_INVALID_FIELD'
  /** Bad generation / session options. */
  | 'KS_INVALID_OPTIONS';

/** KS generation or decoding failed. */
export class KsError extends Error {
  override readonly name = 'KsError';
  readonly code: KsErrorCode;

  constructor(code: KsErrorCode, message: string) {
    super(message);
    this.code = code;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** Any error this layer throws. */
export type KalturaError = KalturaApiError | KalturaNetworkError | KsError;

export function isKalturaApiError(value: unknown, code?: string): value is KalturaApiError {
  return value instanceof KalturaApiError && (code === undefined || value.code === code);
}

/** Replace every occurrence of the given secrets (KS strings) in a text with a placeholder. */
export function redact(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    // Short strings would blank out unrelated text; a KS is always far longer than this.
    if (s && s.length >= 8) out = out.split(s).join('<redacted>');
  }
  return out;
}

function normaliseArgs(args: unknown): Record<string, string> {
  // PHP serialises an empty array as [] and an assoc array as an object.
  if (args === null || typeof args !== 'object' || Array.isArray(args)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(args as Record<string, unknown>)) {
    out[k] = v === null || v === undefined ? '' : String(v);
  }
  return out;
}
