/**
 * Prometheus `/metrics` (prom-client), one registry per server.
 *
 * Figures are pulled when a scrape comes: the core's stats snapshot (connections, streams,
 * bytes, frames), the HLS packagers, the auth policy, the admin session. Counters the core
 * keeps as running totals are mirrored by increments (never down). Events that happen a few
 * times a minute at most (Kaltura API calls, ffmpeg exits) are counted as they happen.
 *
 * Cardinality: per-stream series (`stream`, `entry` labels) exist only for live streams; the
 * gauges are cleared at each scrape, so an ended stream's series disappear.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ErrorLog } from './error-log';
import type { StreamRates } from './rates';
import type { ControlPlaneSources, LiveStatusSource, RecordingStatusSource } from './sources';
import { entryOfStream } from './diagnostics';

export interface MetricsOptions {
  sources: ControlPlaneSources;
  recording: () => RecordingStatusSource;
  live: () => LiveStatusSource;
  errors: ErrorLog;
  rates: StreamRates;
  /** Default process/Node.js metrics (CPU, memory, event loop lag); default true. */
  defaultMetrics?: boolean;
}

const PREFIX = 'klive_';

/** Kaltura API latency buckets, seconds: a healthy call takes 50–500 ms, a sick one seconds. */
const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Mirrors a running total kept elsewhere into a prom-client counter, per label set. */
class TotalMirror<L extends string> {
  private readonly last = new Map<string, number>();

  constructor(private readonly counter: Counter<L>) {}

  set(value: number, labels: Partial<Record<L, string>> = {}): void {
    const key = JSON.stringify(labels);
    // A new label set is exported at 0 at once, so a scrape shows every known series.
    if (!this.last.has(key)) this.counter.inc(labels, 0);
    const last = this.last.get(key) ?? 0;
    if (value > last) {
      this.counter.inc(labels, value - last);
      this.last.set(key, value);
    }
  }
}

export class MetricsCollector {
  readonly registry = new Registry();
  private readonly closers: Array<() => void> = [];
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  private readonly segmentsSeen = new Map<string, number>();

  private readonly connections: Gauge<'role'>;
  private readonly inputsByProtocol: Gauge<'protocol'>;
  private readonly srtRtt: Gauge<'stream' | 'entry'>;
  private readonly srtPackets: Gauge<'stream' | 'entry' | 'kind'>;
  private readonly connectionsAccepted: TotalMirror<never>;
  private readonly publishesLive: Gauge;
  private readonly publishes: TotalMirror<'result'>;
  private readonly refusals: TotalMirror<'stage' | 'reason'>;
  private readonly bytesIn: TotalMirror<never>;
  private readonly bytesOut: TotalMirror<never>;
  private readonly streams: Gauge;
  private readonly entries: Gauge;
  private readonly streamBitrate: Gauge<'stream' | 'entry' | 'kind'>;
  private readonly streamFps: Gauge<'stream' | 'entry' | 'kind'>;
  private readonly ffmpegProcesses: Gauge;
  private readonly ffmpegRestarts: Counter<'entry'>;
  private readonly ffmpegSpeed: Gauge<'stream' | 'entry'>;
  private readonly hlsSegments: Counter;
  private readonly hlsStreams: Gauge;
  private readonly hlsStoreBytes: Gauge;
  private readonly hlsStoreLost: Gauge;
  private readonly recordingPending: Gauge;
  private readonly recordingFailed: Gauge;
  private readonly registrations: TotalMirror<'action' | 'result'>;
  private readonly registrationKicks: TotalMirror<never>;
  private readonly recordingExceeded: Gauge;
  private readonly kalturaLatency: Histogram<'service' | 'action'>;
  private readonly kalturaErrors: Counter<'code'>;
  private readonly ksRenewals: TotalMirror<never>;
  private readonly ksExpiry: Gauge;
  private readonly errors: TotalMirror<'kind'>;
  private readonly authKalturaCalls: TotalMirror<never>;
  private readonly staleAdmissions: TotalMirror<'outcome'>;
  private readonly staleAwaiting: Gauge;
  private readonly stalePlans: TotalMirror<never>;

  constructor(private readonly opts: MetricsOptions) {
    const registers = [this.registry];
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name: PREFIX + name, help, labelNames, registers });
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Counter<L>({ name: PREFIX + name, help, labelNames, registers });

    this.connections = gauge('connections', 'Open RTMP connections by role (publisher, player, idle).', ['role']);
    this.connectionsAccepted = new TotalMirror(counter('connections_accepted_total', 'RTMP connections accepted since start.'));
    this.inputsByProtocol = gauge('publishers_by_protocol', 'Encoders publishing now, by protocol (rtmp, rtmps, srt).', ['protocol']);
    this.srtRtt = gauge('srt_rtt_seconds', 'Smoothed round-trip time of each SRT publisher link.', ['stream', 'entry']);
    this.srtPackets = gauge(
      'srt_packets',
      'Packets of each SRT publisher link since it opened, by kind (received, lost: detected missing, retransmitted: recovered copies received, dropped: given up, too late).',
      ['stream', 'entry', 'kind'],
    );
    this.publishesLive = gauge('publishes', 'RTMP publishers streaming now.');
    this.publishes = new TotalMirror(counter('publishes_total', 'Publish requests decided since start, by result (accepted, refused).', ['result']));
    this.refusals = new TotalMirror(counter('refusals_total', 'Publishers refused since start, by stage (connect, publish, recheck) and reason code.', ['stage', 'reason']));
    this.bytesIn = new TotalMirror(counter('received_bytes_total', 'Bytes received on RTMP connections since start.'));
    this.bytesOut = new TotalMirror(counter('sent_bytes_total', 'Bytes sent on RTMP connections since start.'));
    this.streams = gauge('streams', 'Live streams (inputs and renditions).');
    this.entries = gauge('entries', 'Kaltura entries with a live stream.');
    this.streamBitrate = gauge('stream_bitrate_bits_per_second', 'Media bit rate of each live stream over the last seconds (kind input or rendition).', ['stream', 'entry', 'kind']);
    this.streamFps = gauge('stream_fps', 'Video frames per second of each live stream over the last seconds.', ['stream', 'entry', 'kind']);
    this.ffmpegProcesses = gauge('ffmpeg_processes', 'Transcoder (ffmpeg) processes running.');
    this.ffmpegRestarts = counter('ffmpeg_restarts_total', 'Unexpected transcoder exits followed by a restart, by entry.', ['entry']);
    this.ffmpegSpeed = gauge('ffmpeg_speed_ratio', 'Encoding speed of each running transcoder relative to real time.', ['stream', 'entry']);
    this.hlsSegments = counter('hls_segments_written_total', 'HLS segments written since start, every rendition.');
    this.hlsStreams = gauge('hls_streams', 'Renditions packaged to HLS (live or waiting for a republish).');
    this.hlsStoreBytes = gauge('hls_store_bytes', 'Finished HLS segments held, by where (memory: the live edge; disk: the DVR windows).', ['where']);
    this.hlsStoreLost = gauge('hls_store_lost_segments', 'HLS segments dropped before their DVR window ended (disk full or slow, disk budget), since start.');
    this.recordingPending = gauge('recording_deliveries_pending', 'Recorded segments waiting to be delivered to Kaltura.');
    this.recordingFailed = gauge('recording_deliveries_failed', 'Recorded segments whose delivery to Kaltura failed, since start.');
    this.registrations = new TotalMirror(
      counter('kaltura_live_registrations_total', 'liveStream.registerMediaServer / unregisterMediaServer calls since start, by action (register, unregister) and result (ok, failed).', ['action', 'result']),
    );
    this.registrationKicks = new TotalMirror(counter('kaltura_live_registration_kicks_total', 'Publishers disconnected because Kaltura refused their entry (partner blocked, entry deleted) since start.'));
    this.recordingExceeded = gauge(
      'recording_exceeded_max_duration',
      "Recorded segments not appended because the entry exceeded Kaltura's max recorded duration, since start.",
    );
    this.kalturaLatency = new Histogram({
      name: `${PREFIX}kaltura_api_request_duration_seconds`,
      help: 'Kaltura API HTTP exchanges by service and action.',
      labelNames: ['service', 'action'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.kalturaErrors = counter('kaltura_api_errors_total', 'Kaltura API errors by code (Kaltura exception codes, TIMEOUT, NETWORK, HTTP_STATUS, BAD_RESPONSE).', ['code']);
    this.ksRenewals = new TotalMirror(counter('kaltura_ks_renewals_total', 'Admin KS renewals since start.'));
    this.ksExpiry = gauge('kaltura_ks_expiry_timestamp_seconds', 'When the current admin KS expires (Unix time).');
    this.errors = new TotalMirror(counter('errors_total', 'Errors recorded in /diagnostics/errors since start, by kind.', ['kind']));
    this.authKalturaCalls = new TotalMirror(counter('auth_kaltura_authentications_total', 'Publisher authentications sent to Kaltura since start (cache hits, blocks and rate-limited attempts make none).'));
    this.staleAdmissions = new TotalMirror(
      counter('auth_stale_admissions_total', 'Publishers admitted from the last Kaltura decision while Kaltura was unreachable, by outcome (admitted, confirmed, revoked).', ['outcome']),
    );
    this.staleAwaiting = gauge('auth_stale_awaiting_recheck', 'Connections admitted while Kaltura was unreachable and not re-checked yet.');
    this.stalePlans = new TotalMirror(counter('transcode_stale_plans_total', 'Transcode plans taken from the last Kaltura answer while Kaltura was unreachable.'));
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: PREFIX });

    const { sources } = opts;
    this.closers.push(
      sources.kaltura.observe((o) => {
        if (o.kind === 'exchange') this.kalturaLatency.observe({ service: o.service.toLowerCase(), action: o.action }, o.durationMs / 1000);
        else this.kalturaErrors.inc({ code: o.code });
      }),
      sources.transcodes.onEvent((e) => {
        if (e.type === 'exited' && e.exit.restarting) this.ffmpegRestarts.inc({ entry: e.entryId });
      }),
    );
    const onDisconnect = (e: { bytesIn: number; bytesOut: number }) => {
      this.closedBytesIn += e.bytesIn;
      this.closedBytesOut += e.bytesOut;
    };
    sources.ingest.on('disconnect', onDisconnect);
    this.closers.push(() => sources.ingest.off('disconnect', onDisconnect));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text, refreshed from the sources. */
  async render(): Promise<string> {
    this.refresh();
    return this.registry.metrics();
  }

  close(): void {
    for (const close of this.closers.splice(0)) close();
  }

  private refresh(): void {
    const { ingest, auth, transcodes, session } = this.opts.sources;
    const stats = ingest.stats();

    this.connections.reset();
    for (const role of ['publisher', 'player', 'idle']) this.connections.set({ role }, 0);
    for (const c of stats.connections) this.connections.inc({ role: c.role });
    this.connectionsAccepted.set(stats.totalConnections);
    const publishers = stats.connections.filter((c) => c.role === 'publisher');
    this.publishesLive.set(publishers.length);
    this.inputsByProtocol.reset();
    for (const protocol of ['rtmp', 'rtmps', 'srt']) this.inputsByProtocol.set({ protocol }, 0);
    this.srtRtt.reset();
    this.srtPackets.reset();
    for (const c of publishers) {
      this.inputsByProtocol.inc({ protocol: c.protocol });
      if (!c.srt || !c.streamName) continue;
      const labels = { stream: c.streamName, entry: entryOfStream(c.streamName) ?? '' };
      this.srtRtt.set(labels, c.srt.rttMs / 1000);
      this.srtPackets.set({ ...labels, kind: 'received' }, c.srt.packetsReceived);
      this.srtPackets.set({ ...labels, kind: 'lost' }, c.srt.packetsLost);
      this.srtPackets.set({ ...labels, kind: 'retransmitted' }, c.srt.packetsRetransmitted);
      this.srtPackets.set({ ...labels, kind: 'dropped' }, c.srt.packetsDropped);
    }
    const a = auth.stats();
    this.publishes.set(a.acceptedPublishes, { result: 'accepted' });
    this.publishes.set(a.refusedPublishes, { result: 'refused' });
    this.authKalturaCalls.set(a.authentications);
    this.staleAdmissions.set(a.staleAdmissions, { outcome: 'admitted' });
    this.staleAdmissions.set(a.staleConfirmed, { outcome: 'confirmed' });
    this.staleAdmissions.set(a.staleRevoked, { outcome: 'revoked' });
    this.staleAwaiting.set(a.staleAwaitingRecheck);
    this.stalePlans.set(a.stalePlans);
    for (const [key, n] of Object.entries(auth.refusalTotals())) {
      const [stage, reason] = key.split(':');
      this.refusals.set(n, { stage, reason });
    }
    this.bytesIn.set(this.closedBytesIn + stats.connections.reduce((sum, c) => sum + c.bytesIn, 0));
    this.bytesOut.set(this.closedBytesOut + stats.connections.reduce((sum, c) => sum + c.bytesOut, 0));

    const inputs = new Set(publishers.map((c) => c.streamName));
    const rates = this.opts.rates.sample(stats.streams.map((s) => ({ name: s.name, bytes: s.bytes, videoFrames: s.videoFrames })));
    this.streams.set(stats.streams.length);
    this.streamBitrate.reset();
    this.streamFps.reset();
    const entryIds = new Set<string>();
    for (const s of stats.streams) {
      const entry = entryOfStream(s.name) ?? '';
      if (entry !== '') entryIds.add(entry);
      const labels = { stream: s.name, entry, kind: inputs.has(s.name) ? 'input' : 'rendition' };
      const rate = rates.get(s.name);
      if (rate?.bitrateBps != null) this.streamBitrate.set(labels, rate.bitrateBps);
      if (rate?.fps != null) this.streamFps.set(labels, rate.fps);
    }
    this.entries.set(entryIds.size);

    const pipelines = transcodes.stats();
    this.ffmpegSpeed.reset();
    let running = 0;
    for (const p of pipelines) {
      if (p.ffmpeg?.pid == null) continue;
      running++;
      if (p.ffmpeg.progress) this.ffmpegSpeed.set({ stream: p.source, entry: entryOfStream(p.source) ?? '' }, p.ffmpeg.progress.speed);
    }
    this.ffmpegProcesses.set(running);

    const hls = ingest.hlsStreams();
    this.hlsStreams.set(hls.length);
    const store = ingest.hlsStore();
    this.hlsStoreBytes.set({ where: 'memory' }, store.memoryBytes);
    this.hlsStoreBytes.set({ where: 'disk' }, store.diskBytes);
    this.hlsStoreLost.set(store.lostSegments);
    const names = new Set<string>();
    for (const h of hls) {
      names.add(h.name);
      const last = this.segmentsSeen.get(h.name) ?? 0;
      // A packager restarted under the same name counts from 0 again.
      const added = h.segmentsWritten >= last ? h.segmentsWritten - last : h.segmentsWritten;
      if (added > 0) this.hlsSegments.inc(added);
      this.segmentsSeen.set(h.name, h.segmentsWritten);
    }
    for (const name of this.segmentsSeen.keys()) if (!names.has(name)) this.segmentsSeen.delete(name);

    const deliveries = this.opts.recording().deliveries();
    this.recordingPending.set(deliveries.pending);
    this.recordingFailed.set(deliveries.failed);
    const reg = this.opts.live().counters();
    this.registrations.set(reg.register, { action: 'register', result: 'ok' });
    this.registrations.set(reg.registerFailed, { action: 'register', result: 'failed' });
    this.registrations.set(reg.unregister, { action: 'unregister', result: 'ok' });
    this.registrations.set(reg.unregisterFailed, { action: 'unregister', result: 'failed' });
    this.registrationKicks.set(reg.kicked);
    this.recordingExceeded.set(deliveries.exceededMaxDuration);

    this.ksRenewals.set(session.renewals);
    this.ksExpiry.set(session.expiresAt);
    for (const [kind, n] of Object.entries(this.opts.errors.countsByKind())) this.errors.set(n, { kind });
  }
}
