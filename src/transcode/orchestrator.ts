/**
 * TranscodeOrchestrator: from an admitted publish to a running StreamPipeline.
 *
 * - When the source's onMetaData arrives (or shortly after publish, for encoders that send
 *   none) the entry's conversion profile is fetched, once per publish
 *   (wowza_liveConversionProfile.serve with the metadata as `extraParams`, so Kaltura can
 *   drop renditions larger than the source and pass the source's codecs through), and the
 *   pipeline starts.
 * - Invalid XML, an API error (INGEST_NOT_FOUND_IN_CONVERSION_PROFILE for a suffix the profile
 *   lacks, ENTRY_ID_NOT_FOUND …) or a profile without encodes refuses the publisher with the
 *   reason (the old server's rule): the encoder gets `onStatus` error
 *   NetStream.Publish.BadName with it and is disconnected. The refusal comes right after the
 *   publish was accepted: an encoder sends its onMetaData only once publishing has started,
 *   and fetching the plan at publish as well would ask Kaltura twice per publish.
 * - Unpublish stops the pipeline.
 */
import { join } from 'node:path';
import type { PublishEvent, RtmpIngest, Verdict } from '../ingest/rtmp-ingest';
import type { KalturaApi } from '../kaltura/api';
import type { KalturaLiveStreamEntry } from '../kaltura/types';
import { silentLogger, type Logger } from '../log';
import { TranscodePlanError } from './errors';
import type { SourceMedia } from './ffmpeg-args';
import { StreamPipeline, type PipelineStats } from './pipeline';
import { enabledEncodes, parseTranscodePlan, type TranscodePlan } from './plan';
import type { ExitedEvent } from './supervisor';

/** What diagnostics and metrics learn about transcoders (not per packet: per exit / failure). */
export type TranscodeEvent =
  /** A transcoder exited; `exit.restarting` when the supervisor restarts it (a crash). */
  | { type: 'exited'; streamName: string; entryId: string; exit: ExitedEvent }
  /** A pipeline could not be started. */
  | { type: 'startFailed'; streamName: string; entryId: string; message: string };

export type TranscodeListener = (event: TranscodeEvent) => void;

/** What the orchestrator needs to know about the publisher of a stream. */
export interface PublisherContext {
  entry: KalturaLiveStreamEntry;
  /** Partner to impersonate for Kaltura calls (undefined: none). */
  impersonate?: number;
  /** 0 primary, 1 backup (the publisher's `i`). */
  serverIndex?: 0 | 1;
}

/** A source whose renditions are now being produced. */
export interface PipelineStarted {
  sourceStreamName: string;
  /** The renditions' stream names (`<entryId>_<flavorParamsId>`). */
  renditions: string[];
  context: PublisherContext;
}

export interface OrchestratorOptions {
  ingest: RtmpIngest;
  /** Refuses a publisher whose stream has no usable plan (the ingest's killConnection with a reason). */
  refusePublisher?: (connectionId: number, reason: string) => void;
  /** The one Kaltura call it makes (the daemon passes it with the last-known-plan fallback). */
  api: Pick<KalturaApi, 'conversionProfileServe'>;
  /** This media server's node name (serve's `hostname`). */
  hostname: string;
  ffmpegPath: string;
  /** Parent directory of the per-stream socket directories. */
  workDir: string;
  /** Start without onMetaData after this long (encoders that send none). */
  metadataWaitMs?: number;
  log?: Logger;
  /** Called once a source's pipeline runs (the recording manager starts its recorders). */
  onPipelineStarted?: (started: PipelineStarted) => void;
}

interface Pending {
  connectionId: number;
  context: PublisherContext;
  timer: NodeJS.Timeout;
  codecs?: { width: number; height: number; video?: string; audio?: string };
}

/** FLV codec ids and FourCCs → the names Kaltura's template service compares against. */
const VIDEO_CODEC_NAMES: Record<string, string> = { '7': 'H264', avc1: 'H264', '12': 'H265', hvc1: 'H265' };
const AUDIO_CODEC_NAMES: Record<string, string> = { '10': 'AAC', mp4a: 'AAC', '2': 'MP3', '.mp3': 'MP3' };

/**
 * onMetaData as `extraParams` for wowza_liveConversionProfile.serve. Most encoders send only
 * numeric codec ids; Kaltura decides PassThru vs re-encode on `videocodecidstring` /
 * `audiocodecidstring` ("H264", "AAC"), which the old media server derived from those ids
 * (kaltura/media-server TemplateControlModule) — so do we, falling back to the codecs the
 * core parsed from the sequence headers.
 */
export function conversionExtraParams(metadata: Record<string, unknown>, codecs?: { video?: string; audio?: string }): Record<string, unknown> {
  const out = { ...metadata };
  const name = (table: Record<string, string>, id: unknown) => (id === undefined ? undefined : table[String(id)]);
  out.videocodecidstring ??= name(VIDEO_CODEC_NAMES, metadata.videocodecid) ?? (codecs?.video === 'H264' ? 'H264' : codecs?.video === 'HEVC' ? 'H265' : undefined);
  out.audiocodecidstring ??= name(AUDIO_CODEC_NAMES, metadata.audiocodecid) ?? (codecs?.audio === 'AAC' || codecs?.audio === 'MP3' ? codecs.audio : undefined);
  for (const key of ['videocodecidstring', 'audiocodecidstring']) if (out[key] === undefined) delete out[key];
  return out;
}

/** The old origin's segment rule: entry.segmentDuration (ms) when within 1000..20000, else 6000. */
export function targetSegmentMs(segmentDuration: number | undefined): number {
  return segmentDuration !== undefined && segmentDuration >= 1000 && segmentDuration <= 20_000 ? segmentDuration : 6000;
}

const DEFAULT_METADATA_WAIT_MS = 3000;

/** onMetaData as the core reports it (JSON text); anything but an object counts as none. */
function parseMetadata(json: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(json);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
/** How long a transcoder whose source unpublished may take to write its last frames. */
const UNPUBLISH_DRAIN_MS = 5000;

export class TranscodeOrchestrator {
  private readonly log: Logger;
  private readonly pending = new Map<string, Pending>();
  /** Streams whose plan is being fetched; an unpublish meanwhile removes its entry. */
  private readonly fetching = new Map<string, Pending>();
  private readonly pipelines = new Map<string, StreamPipeline>();
  private readonly listeners = new Set<TranscodeListener>();
  /** Pipelines draining after an unpublish: close() waits for them too. */
  private readonly draining = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly opts: OrchestratorOptions) {
    this.log = opts.log ?? silentLogger;
    opts.ingest.on('metadata', (e) => this.detached(this.onSourceReady(e.streamName, parseMetadata(e.json)), 'source start'));
    opts.ingest.on('codecInfo', (e) => {
      const p = this.pending.get(e.streamName);
      if (p) p.codecs = { width: e.video?.width ?? p.codecs?.width ?? 0, height: e.video?.height ?? p.codecs?.height ?? 0, video: e.video?.codec ?? p.codecs?.video, audio: e.audio?.codec ?? p.codecs?.audio };
    });
    opts.ingest.on('unpublish', (e) => this.detached(this.onUnpublish(e.streamName), 'pipeline stop'));
  }

  /** Work no caller awaits: a failure is logged, never left unhandled. */
  private detached(work: Promise<void>, what: string): void {
    work.catch((error: unknown) => this.log.error(`${what} failed`, { reason: (error as Error).message }));
  }

  /**
   * Publish gate step: the stream waits for its metadata (or the wait), then its plan is
   * fetched once and its pipeline started, or the publisher refused.
   */
  admit(event: PublishEvent, context: PublisherContext): Verdict {
    const timer = setTimeout(() => this.detached(this.onSourceReady(event.streamName, undefined), 'source start'), this.opts.metadataWaitMs ?? DEFAULT_METADATA_WAIT_MS);
    this.pending.set(event.streamName, { connectionId: event.connectionId, context, timer });
    return { accept: true };
  }

  /** Watch transcoder exits and start failures. Returns the unsubscribe function. */
  onEvent(listener: TranscodeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): PipelineStats[] {
    return [...this.pipelines.values()].map((p) => p.stats());
  }

  pipeline(streamName: string): StreamPipeline | undefined {
    return this.pipelines.get(streamName);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.fetching.clear();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    await Promise.all([...this.pipelines.values()].map((p) => p.stop()));
    this.pipelines.clear();
    await Promise.allSettled([...this.draining]);
  }

  private async fetchPlan(streamName: string, context: PublisherContext, metadata?: Record<string, unknown>): Promise<TranscodePlan> {
    const xml = await this.opts.api.conversionProfileServe(streamName, this.opts.hostname, metadata, context.impersonate);
    return parseTranscodePlan(xml, { streamName });
  }

  private async onSourceReady(streamName: string, metadata: Record<string, unknown> | undefined): Promise<void> {
    const pending = this.pending.get(streamName);
    if (!pending || this.closed) return;
    this.pending.delete(streamName);
    clearTimeout(pending.timer);
    const entry = pending.context.entry;
    this.fetching.set(streamName, pending);
    let plan: TranscodePlan;
    try {
      plan = await this.fetchPlan(streamName, pending.context, metadata ? conversionExtraParams(metadata, pending.codecs) : undefined);
    } catch (error) {
      if (this.fetching.get(streamName) !== pending) return; // unpublished meanwhile
      this.fetching.delete(streamName);
      const reason = error instanceof TranscodePlanError ? error.message : `conversion profile unavailable: ${(error as Error).message}`;
      this.log.warn('stream refused: no usable transcode plan', { streamName, entryId: entry.id, reason });
      this.notify({ type: 'startFailed', streamName, entryId: entry.id, message: `publish refused: ${reason}` });
      if (!this.closed) this.opts.refusePublisher?.(pending.connectionId, reason);
      return;
    }
    if (this.fetching.get(streamName) !== pending || this.closed) return; // unpublished meanwhile
    this.fetching.delete(streamName);
    const num = (key: string) => (typeof metadata?.[key] === 'number' ? (metadata[key] as number) : 0);
    const source: SourceMedia = {
      width: num('width') || pending.codecs?.width || 0,
      height: num('height') || pending.codecs?.height || 0,
      frameRate: num('framerate'),
      videoBitrate: num('videodatarate') * 1000 || undefined,
      audioBitrate: num('audiodatarate') * 1000 || undefined,
    };
    try {
      const pipeline = StreamPipeline.start({
        ingest: this.opts.ingest,
        plan,
        source,
        workDir: join(this.opts.workDir, streamName),
        ffmpegPath: this.opts.ffmpegPath,
        targetDurationMs: targetSegmentMs(entry.segmentDuration),
        dvrWindowMs: entry.dvrStatus === 1 && entry.dvrWindow ? entry.dvrWindow * 60_000 : undefined,
        log: this.log.child({ entryId: entry.id }),
      });
      this.pipelines.set(streamName, pipeline);
      pipeline.ffmpeg?.on('exited', (exit) => this.notify({ type: 'exited', streamName, entryId: entry.id, exit }));
      this.opts.onPipelineStarted?.({ sourceStreamName: streamName, renditions: enabledEncodes(plan).map((e) => e.streamName), context: pending.context });
    } catch (error) {
      this.log.error('pipeline failed to start', { streamName, entryId: entry.id, reason: (error as Error).message });
      this.notify({ type: 'startFailed', streamName, entryId: entry.id, message: (error as Error).message });
    }
  }

  private notify(event: TranscodeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log.warn('transcode listener failed', { reason: (error as Error).message });
      }
    }
  }

  private async onUnpublish(streamName: string): Promise<void> {
    this.fetching.delete(streamName);
    const pending = this.pending.get(streamName);
    if (pending) {
      clearTimeout(pending.timer);
      this.pending.delete(streamName);
    }
    const pipeline = this.pipelines.get(streamName);
    if (pipeline) {
      this.pipelines.delete(streamName);
      // The transcoder still holds the source's last second (encoder delay): let it finish.
      const stopping = pipeline.stop({ drainMs: UNPUBLISH_DRAIN_MS });
      this.draining.add(stopping);
      try {
        await stopping;
      } finally {
        this.draining.delete(stopping);
      }
    }
  }
}
