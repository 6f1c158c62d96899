/** Errors of the control plane, each with a stable code and the HTTP status it answers with. */

export type ControlPlaneErrorCode =
  /** No token, or a wrong one. */
  | 'UNAUTHORIZED'
  /** The endpoint is switched off by configuration (e.g. no admin token, only a metrics token). */
  | 'DISABLED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  /** A query parameter is missing or malformed. */
  | 'BAD_REQUEST'
  /** killConnection named a connection that is not open. */
  | 'UNKNOWN_CONNECTION'
  /** The listener could not be bound. */
  | 'START_FAILED'
  /** A bug or an unexpected failure while answering. */
  | 'INTERNAL';

const STATUS: Record<ControlPlaneErrorCode, number> = {
  UNAUTHORIZED: 401,
  DISABLED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  BAD_REQUEST: 400,
  UNKNOWN_CONNECTION: 404,
  START_FAILED: 500,
  INTERNAL: 500,
};

export class ControlPlaneError extends Error {
  override readonly name = 'ControlPlaneError';
  readonly code: ControlPlaneErrorCode;

  constructor(code: ControlPlaneErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  /** The HTTP status this error answers with. */
  get status(): number {
    return STATUS[this.code];
  }

  /** The JSON body of the answer. */
  toJSON(): { error: { code: ControlPlaneErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}
