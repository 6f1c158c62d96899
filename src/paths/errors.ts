/** Errors about the daemon's directories, each with a stable `code`. */

export type PathsErrorCode =
  /** Another klive-server holds the state directory's lock. */
  | 'STATE_LOCKED'
  /** A directory cannot be created, or exists with the wrong owner, type or mode. */
  | 'DIRECTORY_UNUSABLE';

export class PathsError extends Error {
  override readonly name = 'PathsError';
  readonly code: PathsErrorCode;

  constructor(code: PathsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message };
  }
}
