/**
 * The most recent refusals, for diagnostics (`/diagnostics/errors`, src/http). The old
 * server kept the last 100 (Constants.KALTURA_REJECTED_STEAMS_SIZE) with the connection URL,
 * message, IP and time (DiagnosticsProvider.addRejectedStream); URLs here have their token masked.
 */
import type { AuthErrorCode } from './errors';

export interface RefusalRecord {
  /** Epoch ms. */
  time: number;
  /** tcUrl (connect) or tcUrl + stream name (publish), credentials masked. */
  url: string;
  message: string;
  /** Remote IP, without the port. */
  ip: string;
  connectionId: number;
  /** `recheck`: admitted while Kaltura was unreachable, refused once it answered (the connection was closed). */
  stage: 'connect' | 'publish' | 'recheck';
  code: AuthErrorCode;
  entryId?: string;
  /** Kaltura's error code when Kaltura refused. */
  kalturaCode?: string;
}

/** Refusals since start by stage and code (not bounded by the log's capacity): for metrics. */
export type RefusalCounts = Record<string, number>;

export class RefusalLog {
  private readonly records: RefusalRecord[] = [];
  private readonly counts = new Map<string, number>();

  constructor(readonly capacity = 100) {}

  add(record: RefusalRecord): void {
    const key = `${record.stage}:${record.code}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.records.push(record);
    // A ring would avoid the shift, but 100 elements make it irrelevant.
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
  }

  /** Oldest first; copies, so callers cannot alter the log. */
  list(): RefusalRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  /** Every refusal since start, keyed `<stage>:<code>` (e.g. `publish:KALTURA_REFUSED`). */
  totals(): RefusalCounts {
    return Object.fromEntries(this.counts);
  }

  get size(): number {
    return this.records.length;
  }
}
