/**
 * The bounded log of operational errors other than publisher refusals (those are kept by the
 * auth policy): transcoder crashes, Kaltura API failures, recording failures. Served by
 * `/diagnostics/errors` and counted in `/metrics`.
 *
 * `record(kind, message, details)` is the entry point for every module that has something to
 * report (the recorder calls it for failed deliveries). Messages and details are sanitised on
 * the way in (credential fields masked, `t=` / `token=` in URLs masked), so the log can be
 * served as it is.
 */
import { maskString, sanitize } from '../log';

export type ErrorKind =
  /** ffmpeg exited unexpectedly or a pipeline could not start. */
  | 'transcoder'
  /** A Kaltura API call failed (after retries). */
  | 'kaltura'
  /** Recording or delivery of a recording (appendRecording, upload) failed. */
  | 'recording'
  /** Ingest-level trouble worth an operator's look (not a refusal). */
  | 'ingest'
  | 'other';

export const ERROR_KINDS: readonly ErrorKind[] = ['transcoder', 'kaltura', 'recording', 'ingest', 'other'];

/** Optional context; `entryId` and `streamName` are lifted to the record for filtering. */
export type ErrorDetails = Record<string, unknown> & { entryId?: string; streamName?: string };

export interface ErrorRecord {
  /** Increasing id, so a poller can tell new records from old ones. */
  id: number;
  /** Epoch ms. */
  time: number;
  kind: ErrorKind;
  message: string;
  entryId?: string;
  streamName?: string;
  details?: Record<string, unknown>;
}

/** The signature modules are given to report an error. */
export type RecordError = (kind: ErrorKind, message: string, details?: ErrorDetails) => void;

const MAX_MESSAGE = 2000;

export class ErrorLog {
  private readonly records: ErrorRecord[] = [];
  private readonly totals = new Map<ErrorKind, number>();
  private nextId = 1;

  constructor(
    readonly capacity = 200,
    private readonly now: () => number = Date.now,
  ) {}

  /** Add a record; the oldest goes once the log is full. */
  record(kind: ErrorKind, message: string, details?: ErrorDetails): ErrorRecord {
    const clean = details === undefined ? undefined : (sanitize(details) as Record<string, unknown>);
    const { entryId, streamName, ...rest } = clean ?? {};
    const text = maskString(message);
    const record: ErrorRecord = {
      id: this.nextId++,
      time: this.now(),
      kind,
      message: text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text,
    };
    if (typeof entryId === 'string') record.entryId = entryId;
    if (typeof streamName === 'string') record.streamName = streamName;
    if (Object.keys(rest).length > 0) record.details = rest;
    this.records.push(record);
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
    this.totals.set(kind, (this.totals.get(kind) ?? 0) + 1);
    return record;
  }

  /** A bound `record`, to hand to other modules. */
  get recorder(): RecordError {
    return (kind, message, details) => void this.record(kind, message, details);
  }

  /** Oldest first; copies. */
  list(): ErrorRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  /** Errors since start by kind (not bounded by the capacity). */
  countsByKind(): Record<ErrorKind, number> {
    const out = {} as Record<ErrorKind, number>;
    for (const kind of ERROR_KINDS) out[kind] = this.totals.get(kind) ?? 0;
    return out;
  }
}
