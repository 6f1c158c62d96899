/** Why a publisher was refused: a stable code per cause, the message the encoder sees. */

export type AuthErrorCode =
  /** The connect names an RTMP application other than the configured one. */
  | 'UNKNOWN_APPLICATION'
  /** A URL argument is absent (`Missing argument: …`). */
  | 'MISSING_ARGUMENT'
  /** A URL argument is malformed (`Invalid argument: …`). */
  | 'INVALID_ARGUMENT'
  /** Kaltura refused the entry (token, entry, permission, quota…); carries Kaltura's code. */
  | 'KALTURA_REFUSED'
  /** The entry failed recently and is refused without asking Kaltura again. */
  | 'BLOCKED'
  /** Kaltura did not answer in time, or could not be reached. */
  | 'KALTURA_UNAVAILABLE'
  /** The stream name is not `<entryId>_<n>`, or n is out of range. */
  | 'INVALID_STREAM_NAME'
  /** The stream name's entry is not the connection's entry. */
  | 'INCORRECT_STREAM_NAME'
  /** The policy was closed (server shutting down). */
  | 'SHUTTING_DOWN';

export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly code: AuthErrorCode;
  /** Kaltura's error code when Kaltura answered (e.g. LIVE_STREAM_INVALID_TOKEN). */
  readonly kalturaCode?: string;

  constructor(code: AuthErrorCode, message: string, options: { kalturaCode?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.kalturaCode !== undefined) this.kalturaCode = options.kalturaCode;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, kalturaCode: this.kalturaCode, message: this.message };
  }
}
