/**
 * The persisted delivery queue: every finished recording segment goes through it to Kaltura.
 *
 * Guarantees:
 * - enqueue() resolves only once the item is in the fsynced journal; from then on a restart,
 *   even after kill -9, continues its delivery (a started move or upload resumes where the
 *   journal says it stopped).
 * - Per asset (entry + flavor params) segments are appended in enqueue order: a lane delivers
 *   its head and nothing behind it until the head is done or failed. Lanes run independently
 *   (up to `concurrency` at once), so one stuck asset does not hold the others.
 * - A failed attempt is retried with exponential backoff (initialBackoffMs doubling up to
 *   maxBackoffMs) until `retryForMs` after the item was enqueued; then the item is failed: kept
 *   in the journal with its file, counted, and emitted as 'failed'. Errors that cannot heal
 *   (classifyFailure 'permanent') fail at once.
 * - At most once per segment: the item is journaled as 'sending' before appendRecording and as
 *   'done' after it answers. An item still 'sending' when the journal is opened (a crash while
 *   appendRecording was in flight), or whose appendRecording ended ambiguously (timeout), is not
 *   resent: Kaltura may already have it. It becomes done + uncertain, is emitted as 'uncertain'
 *   and its local file (eCDN mode) is kept. The remaining window for a lost segment is a crash
 *   between the 'sending' fsync and Kaltura receiving the request (one request's time); for a
 *   duplicate, a connection reset after Kaltura executed the request (see classifyFailure).
 * - Delivered local files (eCDN mode; in kaltura mode the file was moved to the shared
 *   directory and belongs to Kaltura) are deleted after `retainDeliveredMs`, or earlier, oldest
 *   first, when the local files exceed `diskBudgetBytes`. Undelivered files are never deleted.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../log';
import { LiveAssetResolver, type AssetListApi } from './asset-resolver';
import { isKalturaApiError } from '../kaltura/errors';
import { classifyFailure, EXCEEDED_MAX_RECORDED_DURATION, SegmentDeliverer, type DeliveryApi } from './delivery';
import { describeError, isRecordingError, RecordingError } from './errors';
import { unlinkQuietly } from './file-move';
import { Journal } from './journal';
import { filesToDelete, localBytes } from './retention';
import { parseRecordedStreamName } from './segment';
import type { DeliveryCounters, DeliveryItem, DeliveryMode, RecordingSegmentEvent, SegmentEntryInfo } from './types';

export interface DeliveryQueueOptions {
  /** Where the journal lives; must survive restarts. */
  stateDirectory: string;
  mode: DeliveryMode;
  api: DeliveryApi & AssetListApi;
  /** Kaltura mode: the directory Kaltura reads segments from. */
  sharedDirectory?: string;
  /** eCDN mode; default 8 MiB. */
  uploadChunkBytes?: number;
  /** Give up this long after enqueue; default 3 days. */
  retryForMs?: number;
  /** First retry delay; default 1 s. */
  initialBackoffMs?: number;
  /** Retry delay cap; default 60 s. */
  maxBackoffMs?: number;
  /** Assets delivered at once; default 4. */
  concurrency?: number;
  /** Keep delivered local files this long; default 0 (delete at once). */
  retainDeliveredMs?: number;
  /** Local segment bytes above which the oldest delivered files go first; 0 = no budget. */
  diskBudgetBytes?: number;
  /** flavorAsset.list cache per entry; default 10 min. */
  assetCacheMs?: number;
  uploadTimeoutMs?: number;
  appendTimeoutMs?: number;
  now?: () => number;
  log?: Logger;
}

export interface DeliveryQueueEvents {
  /** appendRecording answered for this item. */
  delivered: [item: DeliveryItem];
  /** Given up (retry time exceeded or permanent error); the item and its file are kept. */
  failed: [item: DeliveryItem, error: string];
  /** Not resent because Kaltura may already have it (see the module comment). */
  uncertain: [item: DeliveryItem];
  /** An attempt failed; the next one starts after `delayMs`. */
  retry: [item: DeliveryItem, error: string, delayMs: number];
}

export const DEFAULT_RETRY_FOR_MS = 3 * 24 * 3600 * 1000;

interface Lane {
  key: string;
  items: DeliveryItem[];
  busy: boolean;
  failures: number;
  retryAt: number;
  timer?: NodeJS.Timeout;
}

type QueueState = 'idle' | 'running' | 'stopping' | 'stopped';

export class DeliveryQueue extends EventEmitter<DeliveryQueueEvents> {
  private readonly items = new Map<string, DeliveryItem>();
  private readonly byPath = new Map<string, DeliveryItem>();
  private readonly lanes = new Map<string, Lane>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly deliverer: SegmentDeliverer;
  private readonly now: () => number;
  private readonly retryForMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly concurrency: number;
  private readonly retainDeliveredMs: number;
  private readonly diskBudgetBytes: number;
  private state: QueueState = 'idle';
  private running = 0;
  private nextSeq: number;
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private sweepAgain = false;
  private idleWaiters: Array<() => void> = [];
  private readonly counts = { delivered: 0, failed: 0, uncertain: 0, retries: 0, exceededMaxDuration: 0 };
  /**
   * Lanes (entry + flavor) whose entry Kaltura refused with LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION:
   * Kaltura refuses every later chunk of that recorded entry, so the rest of the session is not
   * sent. The session's last segment clears it (the next session may get a new recorded entry).
   */
  private readonly exceeded = new Set<string>();
  private lastError?: DeliveryCounters['lastError'];

  private constructor(
    private readonly journal: Journal,
    loaded: DeliveryItem[],
    private readonly recoveredUncertain: DeliveryItem[],
    private readonly options: DeliveryQueueOptions,
  ) {
    super();
    this.now = options.now ?? Date.now;
    this.retryForMs = options.retryForMs ?? DEFAULT_RETRY_FOR_MS;
    this.initialBackoffMs = options.initialBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 60_000;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.retainDeliveredMs = options.retainDeliveredMs ?? 0;
    this.diskBudgetBytes = options.diskBudgetBytes ?? 0;
    const assets = new LiveAssetResolver(options.api, { cacheMs: options.assetCacheMs, now: this.now });
    this.deliverer = new SegmentDeliverer(options.api, assets, {
      mode: options.mode,
      sharedDirectory: options.sharedDirectory,
      uploadChunkBytes: options.uploadChunkBytes,
      uploadTimeoutMs: options.uploadTimeoutMs,
      appendTimeoutMs: options.appendTimeoutMs,
    });
    let maxSeq = 0;
    for (const item of loaded) {
      maxSeq = Math.max(maxSeq, item.seq);
      item.attempts = 0;
      this.track(item);
      if (item.state === 'failed') this.counts.failed++;
      if (item.uncertain) this.counts.uncertain++;
    }
    this.nextSeq = maxSeq + 1;
  }

  /**
   * Opens (and compacts) the journal in `stateDirectory`. Items found 'sending' become done +
   * uncertain (emitted on start()). Nothing is delivered before start().
   */
  static async open(options: DeliveryQueueOptions): Promise<DeliveryQueue> {
    const { journal, items, skippedLines, corruptFile } = await Journal.open(options.stateDirectory);
    if (skippedLines > 0) options.log?.warn('recording journal: unreadable lines moved aside', { skippedLines, corruptFile });
    const now = (options.now ?? Date.now)();
    const recovered: DeliveryItem[] = [];
    try {
      for (const item of items) {
        if (item.state !== 'sending') continue;
        item.state = 'done';
        item.uncertain = true;
        item.finishedAt = now;
        item.lastError = 'restarted while appendRecording was in flight: not resent (Kaltura may have it)';
        await journal.put(item);
        recovered.push(item);
      }
    } catch (err) {
      // Release the state directory's lock: the daemon is not starting.
      await journal.close();
      throw err;
    }
    return new DeliveryQueue(journal, items, recovered, options);
  }

  /**
   * Journals a finished segment for delivery; resolves once it is on disk. A segment whose
   * path is already queued is not queued twice (the existing item is returned).
   * Throws RecordingError BAD_STREAM_NAME, QUEUE_CLOSED or JOURNAL_IO.
   */
  async enqueue(segment: RecordingSegmentEvent, info: SegmentEntryInfo): Promise<DeliveryItem> {
    if (this.state === 'stopping' || this.state === 'stopped') throw new RecordingError('QUEUE_CLOSED', 'the recording delivery queue is stopped');
    const { entryId, flavorParamsId } = parseRecordedStreamName(segment.streamName);
    const existing = this.byPath.get(segment.path);
    if (existing) return { ...existing };
    const item: DeliveryItem = {
      id: randomUUID(),
      seq: this.nextSeq++,
      entryId,
      partnerId: info.partnerId,
      flavorParamsId,
      serverIndex: info.serverIndex,
      path: segment.path,
      bytes: segment.bytes,
      durationMs: segment.durationMs,
      isLast: segment.last,
      enqueuedAt: this.now(),
      state: 'pending',
      attempts: 0,
    };
    this.byPath.set(item.path, item);
    try {
      await this.journal.put(item);
    } catch (err) {
      this.byPath.delete(item.path);
      throw err;
    }
    this.track(item);
    this.pump();
    return { ...item };
  }

  /** Starts delivering (pending items from the journal first, in order). */
  start(): void {
    if (this.state === 'stopping' || this.state === 'stopped') throw new RecordingError('QUEUE_CLOSED', 'the recording delivery queue is stopped');
    if (this.state === 'running') return;
    this.state = 'running';
    for (const item of this.recoveredUncertain.splice(0)) {
      this.options.log?.warn('recording segment left uncertain by a restart', { entryId: item.entryId, path: item.path, itemId: item.id });
      this.emit('uncertain', { ...item });
    }
    const interval = Math.max(1000, Math.min(60_000, this.retainDeliveredMs || 60_000));
    this.sweepTimer = setInterval(() => void this.sweep(), interval);
    this.sweepTimer.unref();
    void this.sweep();
    this.pump();
  }

  /**
   * Stops delivering: no new attempt starts, a running upload stops after its current chunk,
   * and the journal is closed once in-flight requests have settled. What was not delivered is
   * delivered by the next instance opened on the same state directory.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const lane of this.lanes.values()) if (lane.timer) clearTimeout(lane.timer);
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    await this.sweeping;
    await this.journal.close();
    this.state = 'stopped';
    this.releaseIdle();
  }

  counters(): DeliveryCounters {
    let pending = 0;
    for (const item of this.items.values()) if (item.state === 'pending' || item.state === 'sending') pending++;
    return { pending, ...this.counts, lastError: this.lastError ? { ...this.lastError } : undefined, localBytes: localBytes(this.items.values()) };
  }

  /** Copies of the items the journal holds (undelivered, failed, uncertain, retained). */
  list(): DeliveryItem[] {
    return [...this.items.values()].sort((a, b) => a.seq - b.seq).map((i) => ({ ...i, upload: i.upload ? { ...i.upload } : undefined }));
  }

  /** Resolves when nothing is pending or in flight (or the queue stopped). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // -------------------------------------------------------------------------------------------

  private track(item: DeliveryItem): void {
    this.items.set(item.id, item);
    this.byPath.set(item.path, item);
    if (item.state !== 'pending') return;
    const key = laneKey(item);
    let lane = this.lanes.get(key);
    if (!lane) this.lanes.set(key, (lane = { key, items: [], busy: false, failures: 0, retryAt: 0 }));
    lane.items.push(item);
    lane.items.sort((a, b) => a.seq - b.seq);
  }

  private untrack(item: DeliveryItem): void {
    this.items.delete(item.id);
    if (this.byPath.get(item.path) === item) this.byPath.delete(item.path);
  }

  private pump(): void {
    if (this.state !== 'running') return;
    const now = this.now();
    for (const lane of this.lanes.values()) {
      if (this.running >= this.concurrency) break;
      if (lane.busy || lane.items.length === 0 || lane.timer) continue;
      if (lane.retryAt > now) {
        this.armTimer(lane, lane.retryAt - now);
        continue;
      }
      const run = this.runHead(lane);
      this.inflight.add(run);
      // runHead handles its own failures; the catch only keeps a bug from going unhandled.
      void run
        .catch((error: unknown) => this.options.log?.error('recording delivery failed unexpectedly', { error: describeError(error) }))
        .finally(() => this.inflight.delete(run));
    }
    if (this.isIdle()) this.releaseIdle();
  }

  private armTimer(lane: Lane, delayMs: number): void {
    lane.timer = setTimeout(() => {
      lane.timer = undefined;
      this.pump();
    }, delayMs);
  }

  private async runHead(lane: Lane): Promise<void> {
    const item = lane.items[0];
    lane.busy = true;
    this.running++;
    try {
      if (this.exceeded.has(lane.key)) {
        lane.items.shift();
        await this.refuseExceeded(lane, item, `not appended: ${EXCEEDED_MAX_RECORDED_DURATION} earlier in this recording session`);
        return;
      }
      item.attempts++;
      await this.deliverer.deliver(item, {
        persist: (i) => this.journal.put(i),
        checkpoint: () => {
          if (this.state !== 'running') throw new RecordingError('QUEUE_STOPPING', 'stopping');
        },
      });
      lane.items.shift();
      lane.failures = 0;
      await this.finish(item, 'done');
      this.options.log?.info('recording segment delivered', { entryId: item.entryId, path: item.sharedPath ?? item.path, durationMs: item.durationMs, isLast: item.isLast });
    } catch (err) {
      await this.onFailure(lane, item, err).catch((e: unknown) => {
        // The journal could not record the outcome: retry later; the journal keeps the last state.
        this.options.log?.error('recording journal write failed', { itemId: item.id, error: describeError(e) });
        this.scheduleRetry(lane, item, describeError(e));
      });
    } finally {
      lane.busy = false;
      this.running--;
      if (lane.items.length === 0 && !lane.timer) this.lanes.delete(lane.key);
      this.pump();
    }
  }

  private async onFailure(lane: Lane, item: DeliveryItem, err: unknown): Promise<void> {
    if (isRecordingError(err, 'QUEUE_STOPPING')) return;
    const message = describeError(err);
    item.lastError = message;
    this.lastError = { itemId: item.id, entryId: item.entryId, message, at: this.now() };
    if (isKalturaApiError(err) && err.code === EXCEEDED_MAX_RECORDED_DURATION) {
      lane.items.shift();
      this.options.log?.error("entry exceeded Kaltura's max recorded duration: the rest of this recording session is not appended", {
        entryId: item.entryId,
        flavorParamsId: item.flavorParamsId,
        path: item.path,
      });
      await this.refuseExceeded(lane, item, message);
      return;
    }
    const kind = classifyFailure(err);
    if (kind === 'ambiguous') {
      lane.items.shift();
      item.uncertain = true;
      this.options.log?.warn('appendRecording ended ambiguously: not resent', { entryId: item.entryId, path: item.path, error: message });
      await this.finish(item, 'done');
      return;
    }
    if (kind === 'permanent' || this.now() >= item.enqueuedAt + this.retryForMs) {
      lane.items.shift();
      lane.failures = 0;
      await this.finish(item, 'failed');
      return;
    }
    await this.journal.put(item);
    this.scheduleRetry(lane, item, message);
  }

  /** Fail an item of an entry past its max recorded duration; its lane stays refused until the session's last segment. */
  private async refuseExceeded(lane: Lane, item: DeliveryItem, message: string): Promise<void> {
    item.lastError = message;
    this.counts.exceededMaxDuration++;
    if (item.isLast) this.exceeded.delete(lane.key);
    else this.exceeded.add(lane.key);
    lane.failures = 0;
    await this.finish(item, 'failed');
  }

  private scheduleRetry(lane: Lane, item: DeliveryItem, message: string): void {
    this.counts.retries++;
    lane.failures++;
    const delayMs = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** (lane.failures - 1));
    lane.retryAt = this.now() + delayMs;
    this.options.log?.info('recording delivery failed; will retry', { entryId: item.entryId, path: item.path, error: message, delayMs });
    this.emit('retry', { ...item }, message, delayMs);
  }

  private async finish(item: DeliveryItem, state: 'done' | 'failed'): Promise<void> {
    item.state = state;
    item.finishedAt = this.now();
    if (state === 'failed') {
      await this.journal.put(item);
      this.counts.failed++;
      const error = item.lastError ?? 'failed';
      this.options.log?.error('recording segment delivery failed for good', { entryId: item.entryId, path: item.path, error });
      this.emit('failed', { ...item }, error);
      return;
    }
    if (item.localGone && !item.uncertain) {
      // Moved to the shared directory: nothing left to track.
      await this.journal.drop(item.id);
      this.untrack(item);
    } else {
      await this.journal.put(item);
    }
    if (item.uncertain) {
      this.counts.uncertain++;
      this.emit('uncertain', { ...item });
    } else {
      this.counts.delivered++;
      this.emit('delivered', { ...item });
    }
    await this.sweep();
  }

  /** Applies retention and the disk budget. */
  private sweep(): Promise<void> {
    if (this.sweeping) {
      // Items changed since the running pass chose its files: look again after it.
      this.sweepAgain = true;
      return this.sweeping;
    }
    if (this.state !== 'running') return Promise.resolve();
    const run = async (): Promise<void> => {
      try {
        do {
          this.sweepAgain = false;
          await this.sweepOnce();
        } while (this.sweepAgain && this.state === 'running');
      } finally {
        this.sweeping = undefined;
      }
    };
    this.sweeping = run();
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    try {
      const doomed = filesToDelete([...this.items.values()], { retainDeliveredMs: this.retainDeliveredMs, diskBudgetBytes: this.diskBudgetBytes }, this.now());
      for (const item of doomed) {
        await unlinkQuietly(item.path);
        item.localGone = true;
        await this.journal.drop(item.id);
        this.untrack(item);
      }
    } catch (err) {
      this.options.log?.warn('recording retention sweep failed', { error: describeError(err) });
    }
  }

  private isIdle(): boolean {
    if (this.state === 'stopped') return true;
    if (this.running > 0) return false;
    for (const lane of this.lanes.values()) if (lane.items.length > 0) return false;
    return true;
  }

  private releaseIdle(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** Order is kept per live asset: entry + flavor params. */
function laneKey(item: DeliveryItem): string {
  return `${item.entryId}:${item.flavorParamsId}`;
}
