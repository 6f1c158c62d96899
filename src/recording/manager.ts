/**
 * RecordingManager: ties the Rust recorder to the delivery queue for the daemon.
 *
 * - When a source's pipeline starts and the policy says the entry records, every rendition
 *   is recorded (into `<directory>/<entryId>/<streamName>/`, with a `recording.json` naming
 *   the partner and server index so that files found after a crash can be delivered), and
 *   the source stream gets `onMetaDataRecording` sync points.
 * - Each `recordingSegment` event is journaled in the delivery queue.
 * - Unpublish of a recorded source: `cancelReplace` on the primary when the anchor
 *   conditions hold.
 * - At start, `recover()` finishes `.mp4.part` files left by a crash and enqueues every
 *   finished file the journal does not know.
 */
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { KliveConfig } from '../config';
import { recordingSegmentDurationMs, recoverRecordingSegment } from '../ingest/native';
import type { RtmpIngest } from '../ingest/rtmp-ingest';
import type { KalturaApi, MediaServerIndex } from '../kaltura/api';
import { silentLogger, type Logger } from '../log';
import type { PipelineStarted } from '../transcode/orchestrator';
import { healthBeacon } from '../kaltura/auth/beacon';
import { cancelReplaceOnUnpublish } from './cancel-replace';
import { FileGroup } from './file-group';
import type { DeliveryQueue } from './delivery-queue';
import type { RecordingPolicy } from './policy';
import { parseRecordedStreamName, renditionDirectory } from './segment';
import type { RecordingErrorEvent, RecordingSegmentEvent, SegmentEntryInfo } from './types';

/** alertType of the health beacon sent when a rendition's recording fails. */
export const RECORDING_FAILED_ALERT = 'RECORDING_FAILED';

/** Written into each rendition directory before its recorder starts. */
export const RENDITION_META_FILE = 'recording.json';

interface RecordedSource {
  entryId: string;
  info: SegmentEntryInfo;
  renditions: string[];
}

export interface RecordingManagerOptions {
  ingest: RtmpIngest;
  api: KalturaApi;
  queue: DeliveryQueue;
  policy: RecordingPolicy;
  recording: KliveConfig['recording'];
  /** How long a recorder waits for its stream to come back before closing the last segment. */
  republishGraceMs?: number;
  log?: Logger;
  /** Called with each recording failure (diagnostics). */
  onError?: (streamName: string, message: string) => void;
}

export class RecordingManager {
  private readonly log: Logger;
  private readonly sources = new Map<string, RecordedSource>();
  /** Rendition stream → what its segments are delivered with. */
  private readonly renditions = new Map<string, SegmentEntryInfo>();

  private readonly fileGroup: FileGroup;

  constructor(private readonly opts: RecordingManagerOptions) {
    this.log = opts.log ?? silentLogger;
    this.fileGroup = new FileGroup(opts.recording.fileGroup, this.log);
    opts.ingest.on('recordingSegment', (e) => void this.onSegment(e));
    opts.ingest.on('recordingError', (e) => this.onRecordingError(e));
    opts.ingest.on('unpublish', (e) => void this.onUnpublish(e.streamName));
  }

  /** Streams being recorded now. */
  recordedStreams(): string[] {
    return [...this.renditions.keys()];
  }

  /** Recording state of an entry for diagnostics; undefined when it is not recorded. */
  entryStatus(entryId: string): { state: string; renditions: string[]; delivered: number; pending: number; failed: number; lastError?: string } | undefined {
    const prefix = `${entryId}_`;
    const live = this.opts.ingest.recordings().filter((r) => r.name.startsWith(prefix));
    const items = this.opts.queue.list().filter((i) => i.entryId === entryId);
    if (live.length === 0 && items.length === 0) return undefined;
    const count = (state: string) => items.filter((i) => i.state === state).length;
    const lastError = live.find((r) => r.error)?.error ?? items.find((i) => i.lastError)?.lastError;
    const recording = live.some((r) => r.live);
    const failed = count('failed');
    return {
      state: recording ? 'recording' : failed > 0 || lastError ? 'failed' : count('pending') + count('sending') > 0 ? 'delivering' : 'idle',
      renditions: live.map((r) => r.name),
      delivered: count('done'),
      pending: count('pending') + count('sending'),
      failed,
      lastError,
    };
  }

  /**
   * The orchestrator's hook: decide, then record every rendition. Never rejects (it runs
   * detached from the publish): a rendition that cannot be recorded is reported as a
   * recording failure and the others go on.
   */
  async onPipelineStarted(started: PipelineStarted): Promise<void> {
    try {
      await this.recordPipeline(started);
    } catch (error) {
      this.fail(started.sourceStreamName, `recording not started: ${(error as Error).message}`);
    }
  }

  private async recordPipeline(started: PipelineStarted): Promise<void> {
    const { entry, impersonate, serverIndex = 0 } = started.context;
    const rec = this.opts.recording;
    // The live stream carries sync points whenever the entry records, whoever records it:
    // when the partner has Kaltura recording, Kaltura's recorder reads them from the stream.
    if (entry.recordStatus) {
      try {
        this.opts.ingest.startSyncPoints(started.sourceStreamName, rec.syncPointIntervalSeconds * 1000);
      } catch (error) {
        this.log.warn('sync points not started', { streamName: started.sourceStreamName, reason: (error as Error).message });
      }
    }
    const decision = await this.opts.policy.shouldRecord(entry, impersonate);
    if (!decision.record) {
      this.log.info('not recording', { entryId: entry.id, reason: decision.reason, error: decision.error });
      return;
    }
    const info: SegmentEntryInfo = { partnerId: impersonate, serverIndex: serverIndex as MediaServerIndex };
    for (const streamName of started.renditions) {
      // An encoder that reconnects within the recorder's grace continues the same recording.
      if (this.renditions.has(streamName)) continue;
      try {
        // Kaltura names renditions `<entryId>_<flavorParamsId>`; anything else cannot be
        // delivered (no flavor to append to) and is refused here, not thrown out of the hook.
        const dir = renditionDirectory(rec.directory, streamName);
        await writeMeta(dir, info);
        await this.fileGroup.apply(join(rec.directory, entry.id), 'directory');
        await this.fileGroup.apply(dir, 'directory');
        this.opts.ingest.startRecording(streamName, {
          dir,
          segmentDurationMs: rec.segmentDurationSeconds * 1000,
          republishGraceMs: this.opts.republishGraceMs,
          // Each recorded MP4 carries the sync points as a data track (stream 2), where
          // Kaltura's convert-segment batch reads them.
          syncPointIntervalMs: rec.syncPointIntervalSeconds * 1000,
        });
        this.renditions.set(streamName, info);
      } catch (error) {
        this.fail(streamName, `cannot start recording: ${(error as Error).message}`);
      }
    }
    this.sources.set(started.sourceStreamName, { entryId: entry.id, info, renditions: started.renditions });
    this.log.info('recording', { entryId: entry.id, renditions: started.renditions, serverIndex });
  }

  /**
   * Finish what a crash left (`.mp4.part`) and enqueue every finished segment the journal
   * does not know. Run once at start, before new recordings.
   */
  async recover(): Promise<number> {
    const known = new Set(this.opts.queue.list().map((i) => i.path));
    let enqueued = 0;
    for (const entryDir of await listDirs(this.opts.recording.directory)) {
      for (const renditionDir of await listDirs(entryDir)) {
        const info = await readMeta(renditionDir);
        if (!info) continue;
        const streamName = basename(renditionDir);
        for (const name of (await readdir(renditionDir)).sort()) {
          const path = join(renditionDir, name);
          let segment: RecordingSegmentEvent | undefined;
          if (name.endsWith('.mp4.part')) {
            try {
              const r = recoverRecordingSegment(path);
              if (r) segment = { type: 'recordingSegment', streamName, path: r.path, startWallMs: r.startWallMs, durationMs: r.durationMs, bytes: r.bytes, last: false };
              this.log.warn('recovered a segment cut short', { path, durationMs: r?.durationMs ?? 0 });
            } catch (error) {
              this.fail(streamName, (error as Error).message);
            }
          } else if (name.endsWith('.mp4') && !known.has(path)) {
            const startWallMs = Number(name.slice(name.lastIndexOf('-') + 1, -4));
            if (!Number.isFinite(startWallMs)) continue;
            // Finished, but the crash came before the journal heard of it.
            const durationMs = recordingSegmentDurationMs(path);
            segment = { type: 'recordingSegment', streamName, path, startWallMs, durationMs, bytes: (await stat(path)).size, last: false };
          }
          if (segment && !known.has(segment.path)) {
            await this.fileGroup.apply(segment.path);
            await this.opts.queue.enqueue(segment, info);
            known.add(segment.path);
            enqueued++;
          }
        }
      }
    }
    return enqueued;
  }

  private async onSegment(e: RecordingSegmentEvent): Promise<void> {
    let info: SegmentEntryInfo | undefined;
    try {
      info = this.renditions.get(e.streamName) ?? (await readMeta(renditionDirectory(this.opts.recording.directory, e.streamName)));
    } catch (error) {
      this.fail(e.streamName, `segment ${e.path} not queued: ${(error as Error).message}`);
      return;
    }
    if (!info) {
      this.fail(e.streamName, `segment ${e.path} has no recording context; left for the next start`);
      return;
    }
    await this.fileGroup.apply(e.path);
    try {
      await this.opts.queue.enqueue(e, info);
      this.log.info('recording segment', { streamName: e.streamName, path: e.path, durationMs: e.durationMs, last: e.last });
    } catch (error) {
      this.fail(e.streamName, `segment ${e.path} not queued: ${(error as Error).message}`);
    }
    if (e.last) this.renditions.delete(e.streamName);
  }

  /**
   * The recorder stopped a rendition (a full disk, a write error): besides the log and
   * diagnostics, Kaltura hears of it as a health beacon on the entry, like refusals.
   */
  private onRecordingError(e: RecordingErrorEvent): void {
    this.fail(e.streamName, e.message);
    const info = this.renditions.get(e.streamName);
    if (!info) return;
    let entryId: string;
    try {
      entryId = parseRecordedStreamName(e.streamName).entryId;
    } catch {
      return;
    }
    const beacon = healthBeacon(entryId, info.serverIndex, RECORDING_FAILED_ALERT, `${e.streamName}: ${e.message}`, Date.now());
    this.opts.api.beaconAdd(beacon, info.partnerId).catch((error: unknown) => this.log.warn('recording beacon not sent', { entryId, error }));
  }

  private async onUnpublish(streamName: string): Promise<void> {
    const source = this.sources.get(streamName);
    if (!source) return;
    this.sources.delete(streamName);
    const outcome = await cancelReplaceOnUnpublish(this.opts.api, { entryId: source.entryId, serverIndex: source.info.serverIndex, partnerId: source.info.partnerId }, this.log);
    this.log.info('unpublish of a recorded entry', { entryId: source.entryId, cancelReplace: outcome.action });
  }

  private fail(streamName: string, message: string): void {
    this.log.error('recording failed', { streamName, message });
    this.opts.onError?.(streamName, message);
  }
}

async function writeMeta(dir: string, info: SegmentEntryInfo): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `${RENDITION_META_FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(info));
  await rename(tmp, join(dir, RENDITION_META_FILE));
}

async function readMeta(dir: string): Promise<SegmentEntryInfo | undefined> {
  try {
    const o = JSON.parse(await readFile(join(dir, RENDITION_META_FILE), 'utf8')) as Partial<SegmentEntryInfo>;
    if (o.serverIndex !== 0 && o.serverIndex !== 1) return undefined;
    return { serverIndex: o.serverIndex, partnerId: typeof o.partnerId === 'number' ? o.partnerId : undefined };
  } catch {
    return undefined;
  }
}

async function listDirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
  } catch {
    return [];
  }
}
