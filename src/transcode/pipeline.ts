/**
 * StreamPipeline: everything one published source stream turns into, per its transcode plan.
 *
 * - A passthrough encode whose stream name differs from the source's is a relay in the core
 *   (the source republished under the rendition's name; no ffmpeg).
 * - Transcoded encodes share ONE ffmpeg: it reads the source as FLV from a unix-socket sink and
 *   writes each rendition as FLV to a unix-socket source the core publishes under the
 *   rendition's stream name. A plan of passthroughs only starts no ffmpeg.
 * - Every rendition is packaged to HLS in the core, grouped per the plan's stream-name groups
 *   (the master playlist `<group>`), with the entry's segment duration and DVR window.
 *
 * ffmpeg crashes are the supervisor's business (restart with backoff); the sink keeps
 * listening, the sources keep listening, and the HLS packager continues the same playlists
 * with a discontinuity when a rendition comes back.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { RtmpIngest } from '../ingest/rtmp-ingest';
import { silentLogger, type Logger } from '../log';
import { buildFfmpegArgs, type SourceMedia } from './ffmpeg-args';
import { enabledEncodes, isPassthroughEncode, type TranscodeEncode, type TranscodePlan } from './plan';
import { FfmpegSupervisor, type SupervisorStats } from './supervisor';

export interface PipelineOptions {
  ingest: RtmpIngest;
  plan: TranscodePlan;
  /** What onMetaData / the sequence headers said about the source. */
  source: SourceMedia;
  /** Directory for this pipeline's unix sockets (created; removed on stop). */
  workDir: string;
  ffmpegPath: string;
  /** HLS segment target (entry.segmentDuration rules applied by the caller). */
  targetDurationMs: number;
  /** DVR window when the entry's DVR is on. */
  dvrWindowMs?: number;
  /** Supervisor restart policy override (tests). */
  restart?: ConstructorParameters<typeof FfmpegSupervisor>[0]['restart'];
  log?: Logger;
}

export interface RenditionState {
  encode: string;
  streamName: string;
  kind: 'source' | 'relay' | 'transcode';
}

export interface PipelineStats {
  source: string;
  renditions: RenditionState[];
  groups: string[];
  ffmpeg?: SupervisorStats;
}

export class StreamPipeline {
  private readonly log: Logger;
  private readonly sourceIds: number[] = [];
  private readonly hls: string[] = [];
  private readonly renditions: RenditionState[] = [];
  private sinkId: number | undefined;
  private supervisor: FfmpegSupervisor | undefined;
  private stopped = false;

  private constructor(private readonly opts: PipelineOptions) {
    this.log = (opts.log ?? silentLogger).child({ streamName: opts.plan.sourceStreamName });
  }

  /** Wire everything up and start ffmpeg when the plan needs it. */
  static start(opts: PipelineOptions): StreamPipeline {
    const pipeline = new StreamPipeline(opts);
    try {
      pipeline.wire();
    } catch (error) {
      // The start error is what the caller hears of; a failing cleanup only adds to the log.
      pipeline.stop().catch((stopError: unknown) => pipeline.log.warn('cleanup after a failed start failed', { reason: (stopError as Error).message }));
      throw error;
    }
    return pipeline;
  }

  private wire(): void {
    const { ingest, plan } = this.opts;
    const source = plan.sourceStreamName;
    // Private: the sockets in it carry the stream (the core also checks every peer's uid).
    mkdirSync(this.opts.workDir, { recursive: true, mode: 0o700 });
    const outputs = new Map<string, string>();
    for (const encode of enabledEncodes(plan)) {
      if (isPassthroughEncode(encode)) {
        if (encode.streamName !== source) this.sourceIds.push(ingest.attachRelay(source, encode.streamName));
        this.renditions.push({ encode: encode.name, streamName: encode.streamName, kind: encode.streamName === source ? 'source' : 'relay' });
      } else {
        const socket = join(this.opts.workDir, `${encode.streamName}.out.sock`);
        this.sourceIds.push(ingest.attachFlvSource(encode.streamName, socket));
        outputs.set(encode.name, `unix:${socket}`);
        this.renditions.push({ encode: encode.name, streamName: encode.streamName, kind: 'transcode' });
      }
      this.startHls(encode);
    }

    if (outputs.size > 0) {
      const sinkPath = join(this.opts.workDir, `${source}.in.sock`);
      this.sinkId = ingest.attachSocketSink(source, sinkPath);
      const args = buildFfmpegArgs(plan, {
        input: `unix:${sinkPath}`,
        outputFor: (encode) => outputs.get(encode.name) ?? null,
        source: this.opts.source,
      });
      const supervisor = new FfmpegSupervisor({ ffmpegPath: this.opts.ffmpegPath, args, restart: this.opts.restart, logger: this.log });
      supervisor.on('started', (e) => this.log.info('transcoder started', { pid: e.pid, restarts: e.restarts }));
      supervisor.on('exited', (e) =>
        this.log.warn('transcoder exited', { pid: e.pid, code: e.code, signal: e.signal, restarting: e.restarting, restartInMs: e.restartInMs, stderr: e.stderrTail }),
      );
      supervisor.start();
      this.supervisor = supervisor;
    }
    this.log.info('pipeline started', { renditions: this.renditions.map((r) => `${r.streamName}:${r.kind}`), ffmpeg: this.supervisor !== undefined });
  }

  private startHls(encode: TranscodeEncode): void {
    const group = this.opts.plan.groups.find((g) => g.members.includes(encode.name));
    this.opts.ingest.startHls(encode.streamName, {
      targetDurationMs: this.opts.targetDurationMs,
      dvrWindowMs: this.opts.dvrWindowMs,
      group: group?.streamName,
    });
    this.hls.push(encode.streamName);
  }

  /** The transcoder's pid and restart count etc., for diagnostics. */
  stats(): PipelineStats {
    return {
      source: this.opts.plan.sourceStreamName,
      renditions: [...this.renditions],
      groups: this.opts.plan.groups.map((g) => g.streamName),
      ffmpeg: this.supervisor?.stats(),
    };
  }

  get ffmpeg(): FfmpegSupervisor | undefined {
    return this.supervisor;
  }

  /**
   * Source unpublished: stop ffmpeg and the taps. HLS packagers are left to their republish
   * grace (an encoder reconnecting continues the same playlists); `stopHls` ends them at once.
   */
  /**
   * `drainMs`: the source ended (unpublish), so ffmpeg's input is at its end: let it finish
   * encoding and writing for up to that long before it is terminated.
   */
  async stop({ stopHls = false, drainMs = 0 }: { stopHls?: boolean; drainMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const { ingest } = this.opts;
    await this.supervisor?.stop({ drainMs });
    const quietly = (f: () => unknown) => {
      try {
        f();
      } catch {
        // The server may already be closed; nothing left to release then.
      }
    };
    if (this.sinkId !== undefined) quietly(() => ingest.detachSink(this.sinkId as number));
    for (const id of this.sourceIds) quietly(() => ingest.detachSource(id));
    if (stopHls) for (const name of this.hls) quietly(() => ingest.stopHls(name));
    quietly(() => rmSync(this.opts.workDir, { recursive: true, force: true }));
    this.log.info('pipeline stopped');
  }
}
