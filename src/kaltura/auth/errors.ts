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
  /** This publisher key (entry, index, token) failed recently, or the entry is unknown: refused without asking Kaltura again. */
  | 'BLOCKED'
  /** Too many authentication attempts from this client network (or from new publishers overall). */
  | 'RATE_LIMITED'
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
  /** KALTURA_UNAVAILABLE because Kaltura could not be reached (not a definite answer): a stale admission may stand in. */
  readonly unreachable: boolean;

  constructor(code: AuthErrorCode, message: string, options: { kalturaCode?: string; cause?: unknown; unreachable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.unreachable = options.unreachable === true;
    if (options.kalturaCode !== undefined) this.kalturaCode = options.kalturaCode;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, kalturaCode: this.kalturaCode, message: this.message };
  }
}
