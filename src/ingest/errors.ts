/** Errors of the ingest layer, each with a stable `code`. */
export type IngestErrorCode = 'STREAM_NOT_LIVE' | 'SINK_FAILED' | 'SERVER_CLOSED' | 'START_FAILED' | 'RECORDING_FAILED';

export class IngestError extends Error {
  readonly code: IngestErrorCode;

  constructor(code: IngestErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IngestError';
    this.code = code;
  }
}
