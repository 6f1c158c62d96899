/**
 * Typed errors of the recording layer. Callers branch on `code`, never on message text.
 */

export type RecordingErrorCode =
  /** The journal cannot be read, written or fsynced. */
  | 'JOURNAL_IO'
  /** A stream name is not `<entryId>_<flavorParamsId>`. */
  | 'BAD_STREAM_NAME'
  /** flavorAsset.list has no live asset with the segment's flavorParamsId. */
  | 'ASSET_NOT_FOUND'
  /** The segment file is gone before it was delivered (neither in the recording nor the shared directory). */
  | 'FILE_MISSING'
  /** Moving / copying the file to the shared directory failed. */
  | 'FILE_MOVE_FAILED'
  /** The shared directory holds another file under the segment's name. */
  | 'FILE_NAME_TAKEN'
  /** Kaltura holds fewer bytes of an upload token than were sent. */
  | 'UPLOAD_INCOMPLETE'
  /** The queue is stopping: the delivery was interrupted and resumes after a restart. */
  | 'QUEUE_STOPPING'
  /** enqueue() or start() after stop(). */
  | 'QUEUE_CLOSED';

export class RecordingError extends Error {
  override readonly name = 'RecordingError';
  readonly code: RecordingErrorCode;

  constructor(code: RecordingErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message };
  }
}

export function isRecordingError(value: unknown, code?: RecordingErrorCode): value is RecordingError {
  return value instanceof RecordingError && (code === undefined || value.code === code);
}

/** A short, single-line description of any thrown value, for counters and journal records. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && code !== '' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
