/**
 * RtmpIngest: the TypeScript face of the native RTMP core.
 *
 * It starts the Rust server, turns its events into typed emitter events and answers every
 * connect / publish / play request through an async gate the application provides. Media
 * never passes through here: JavaScript sees connections, decisions, codecs and stats.
 */
import { EventEmitter } from 'node:events';
import { reportUnexpected } from '../process-guard';
import { IngestError } from './errors';
import {
  startRtmpServer,
  type DecisionInput,
  type HlsOptionsInput,
  type HlsStoreSnapshot,
  type HlsStreamSnapshot,
  type RecordingSnapshot,
  type RecordOptionsInput,
  type IngestEvent,
  type RtmpServer,
  type RtmpServerOptions,
  type ServerStatsSnapshot,
} from './native';

export type IngestEventType = IngestEvent['type'];
export type IngestEventOf<T extends IngestEventType> = Extract<IngestEvent, { type: T }>;
export type ConnectEvent = IngestEventOf<'connect'>;
export type PublishEvent = IngestEventOf<'publish'>;
export type PlayEvent = IngestEventOf<'play'>;

/** The application's answer to a request. */
export type Verdict = DecisionInput;

/** Decides on one request; a thrown error refuses it with the error's message. */
export type Gate<E> = (event: E) => Verdict | Promise<Verdict>;

export interface RtmpIngestOptions extends RtmpServerOptions {
  /** Decides on each `connect`; default: accept. */
  onConnect?: Gate<ConnectEvent>;
  /** Decides on each `publish`; default: accept. */
  onPublish?: Gate<PublishEvent>;
  /** Decides on each `play`; default: accept. */
  onPlay?: Gate<PlayEvent>;
}

const ACCEPT: Verdict = { accept: true };

type Listener<T extends IngestEventType> = (event: IngestEventOf<T>) => void;

export class RtmpIngest {
  private readonly emitter = new EventEmitter();
  private server: RtmpServer | undefined;
  private closed = false;

  private constructor(private readonly gates: Pick<RtmpIngestOptions, 'onConnect' | 'onPublish' | 'onPlay'>) {
    // One listener per event type is common (tests, dashboards); do not warn at 10.
    this.emitter.setMaxListeners(0);
  }

  /** Start listening. Resolves once the socket is bound. */
  static async start(options: RtmpIngestOptions = {}): Promise<RtmpIngest> {
    const { onConnect, onPublish, onPlay, ...serverOptions } = options;
    const ingest = new RtmpIngest({ onConnect, onPublish, onPlay });
    try {
      ingest.server = await startRtmpServer(serverOptions, (event) => ingest.dispatch(event));
    } catch (cause) {
      throw new IngestError('START_FAILED', `cannot start the RTMP server: ${(cause as Error).message}`, { cause });
    }
    return ingest;
  }

  get port(): number {
    return this.native().port;
  }

  get address(): string {
    return this.native().address;
  }

  on<T extends IngestEventType>(type: T, listener: Listener<T>): this {
    this.emitter.on(type, listener);
    return this;
  }

  off<T extends IngestEventType>(type: T, listener: Listener<T>): this {
    this.emitter.off(type, listener);
    return this;
  }

  /** Resolves with the first event of `type` that satisfies `match`. */
  waitFor<T extends IngestEventType>(type: T, match: (event: IngestEventOf<T>) => boolean = () => true): Promise<IngestEventOf<T>> {
    return new Promise((resolve) => {
      const listener: Listener<T> = (event) => {
        if (match(event)) {
          this.off(type, listener);
          resolve(event);
        }
      };
      this.on(type, listener);
    });
  }

  /** Write a live stream as FLV to a file. Returns the sink id. */
  attachFileSink(streamName: string, path: string): number {
    return this.attach(streamName, { kind: 'file', path });
  }

  /**
   * Serve a live stream as FLV on a unix socket; the first reader that connects (for example
   * `ffmpeg -i unix:PATH`) gets it. Returns the sink id.
   */
  attachSocketSink(streamName: string, path: string): number {
    return this.attach(streamName, { kind: 'unixSocket', path });
  }

  /**
   * Publish what a local writer sends as FLV on a unix socket (a transcoder's rendition:
   * `ffmpeg … -f flv unix:PATH`) as live stream `streamName`. Returns the source id.
   */
  attachFlvSource(streamName: string, socketPath: string, app = 'kLive'): number {
    try {
      return this.native().attachFlvSource(streamName, app, socketPath);
    } catch (cause) {
      throw new IngestError('SINK_FAILED', (cause as Error).message, { cause });
    }
  }

  /** Republish live stream `source` as `alias` (a passthrough rendition). Returns the relay id. */
  attachRelay(source: string, alias: string): number {
    try {
      return this.native().attachRelay(source, alias);
    } catch (cause) {
      const message = (cause as Error).message;
      throw new IngestError(message.includes('is not live') ? 'STREAM_NOT_LIVE' : 'SINK_FAILED', message, { cause });
    }
  }

  /** Stop an FLV source or a relay; its stream is unpublished. */
  detachSource(sourceId: number): boolean {
    return this.native().detachSource(sourceId);
  }

  /**
   * Package live stream `streamName` to HLS, served by the core's HTTP origin. May be called
   * before the stream is live: the packager waits for it.
   */
  startHls(streamName: string, options: HlsOptionsInput = {}): void {
    this.native().startHls(streamName, options);
  }

  /** Record `streamName` to MP4 segments (`recordingSegment` events report each one). */
  startRecording(streamName: string, options: RecordOptionsInput): void {
    try {
      this.native().startRecording(streamName, options);
    } catch (cause) {
      throw new IngestError('RECORDING_FAILED', `cannot record '${streamName}': ${(cause as Error).message}`, { cause });
    }
  }

  /** Stop recording; the open segment is reported as the last. */
  stopRecording(streamName: string): boolean {
    return this.native().stopRecording(streamName);
  }

  recordings(): RecordingSnapshot[] {
    return this.native().recordings();
  }

  /** Inject `onMetaDataRecording` sync points into a live stream every `intervalMs` until it ends. */
  startSyncPoints(streamName: string, intervalMs: number): void {
    try {
      this.native().startSyncPoints(streamName, intervalMs);
    } catch (cause) {
      throw new IngestError('STREAM_NOT_LIVE', `cannot add sync points to '${streamName}': ${(cause as Error).message}`, { cause });
    }
  }

  stopHls(streamName: string): boolean {
    return this.native().stopHls(streamName);
  }

  hlsStreams(): HlsStreamSnapshot[] {
    return this.native().hlsStreams();
  }

  /** The HLS segment store: memory and disk use, budgets, the last disk error. */
  hlsStore(): HlsStoreSnapshot {
    return this.native().hlsStore();
  }

  /** UDP port of the SRT listener, when SRT is on (`srtPort`). */
  get srtPort(): number | undefined {
    return this.native().srtPort ?? undefined;
  }

  /** Port of the RTMPS listener, when RTMPS is on (`rtmpsPort`). */
  get rtmpsPort(): number | undefined {
    return this.native().rtmpsPort ?? undefined;
  }

  /** Port of the separate HTTP origin listener, when configured (`httpPort`). */
  get httpPort(): number | undefined {
    return this.native().httpPort ?? undefined;
  }

  detachSink(sinkId: number): boolean {
    return this.native().detachSink(sinkId);
  }

  /**
   * Close a connection (publisher or player) by id. With `refusal`, what it publishes is
   * refused first: the encoder gets `onStatus` error NetStream.Publish.BadName with it.
   */
  killConnection(connectionId: number, refusal?: string): boolean {
    return this.native().killConnection(connectionId, refusal);
  }

  stats(): ServerStatsSnapshot {
    return this.native().stats();
  }

  /** Close every session cleanly and stop listening. */
  async close(graceMs = 5000): Promise<void> {
    if (this.closed || !this.server) return;
    this.closed = true;
    await this.server.shutdown(graceMs);
  }

  private attach(streamName: string, target: { kind: 'file' | 'unixSocket'; path: string }): number {
    try {
      return this.native().attachSink(streamName, target);
    } catch (cause) {
      const message = (cause as Error).message;
      const code = message.includes('is not live') ? 'STREAM_NOT_LIVE' : 'SINK_FAILED';
      throw new IngestError(code, message, { cause });
    }
  }

  private native(): RtmpServer {
    if (!this.server || this.closed) throw new IngestError('SERVER_CLOSED', 'the RTMP server is closed');
    return this.server;
  }

  private dispatch(event: IngestEvent): void {
    switch (event.type) {
      case 'connect':
        this.gate(event, this.gates.onConnect);
        break;
      case 'publish':
        this.gate(event, this.gates.onPublish);
        break;
      case 'play':
        this.gate(event, this.gates.onPlay);
        break;
      default:
        break;
    }
    // Each listener on its own: one that throws must neither skip the others nor escape
    // into the native callback (where it would end the process).
    for (const listener of this.emitter.rawListeners(event.type)) {
      try {
        (listener as (e: IngestEvent) => void)(event);
      } catch (error) {
        reportUnexpected(error, `'${event.type}' event listener`);
      }
    }
  }

  private gate<E extends ConnectEvent | PublishEvent | PlayEvent>(event: E, gate: Gate<E> | undefined): void {
    const decide = (verdict: Verdict) => {
      if (this.server && !this.closed) this.server.decide(event.requestId, verdict);
    };
    if (!gate) {
      decide(ACCEPT);
      return;
    }
    Promise.resolve()
      .then(() => gate(event))
      .then(decide, (error: unknown) => decide({ accept: false, description: error instanceof Error ? error.message : String(error) }));
  }
}
