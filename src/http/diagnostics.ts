/**
 * The JSON documents of `/diagnostics/*`, built from the sources on each request.
 *
 * Entries are grouped by Kaltura entry id: an RTMP publisher belongs to the entry it
 * authenticated for; a stream (source or rendition) to the entry its name starts with
 * (`<entryId>_<n>` / `<entryId>_<flavorParamsId>`). Nothing from Kaltura's entry object is
 * copied wholesale (it can hold broadcast URLs with the stream token): only the listed fields.
 */
import type { ConnectionStatsSnapshot, HlsStoreSnapshot, HlsStreamSnapshot, StreamStatsSnapshot, AudioCodecInfo, VideoCodecInfo } from '../ingest/native';
import type { AdmissionVia, AuthenticatedConnection, RefusalRecord } from '../kaltura/auth';
import { maskString, sanitize } from '../log';
import type { SupervisorStats } from '../transcode/supervisor';
import type { PipelineStats } from '../transcode/pipeline';
import type { ErrorLog, ErrorRecord } from './error-log';
import { parseStreamName } from '../kaltura/stream-name';
import type { ProcessUsageSampler, UsageReport } from './process-usage';
import type { StreamRate, StreamRates } from './rates';
import type { ControlPlaneSources, LiveStatusSource, RecordingEntryStatus, RecordingStatusSource } from './sources';

/** Static facts about this server, fixed at start. */
export interface ServerFacts {
  version: string;
  nativeVersion: string;
  hostname: string;
  applicationName: string;
  workMode: string;
  /** Epoch ms. */
  startedAt: number;
  rtmpPort: number;
  /** Separate HLS origin port, when configured. */
  httpPort?: number;
  adminPort?: number;
  kalturaServiceUrl?: string;
}

export interface DiagnosticsContext {
  sources: ControlPlaneSources;
  recording: () => RecordingStatusSource;
  live: () => LiveStatusSource;
  errors: ErrorLog;
  rates: StreamRates;
  usage: ProcessUsageSampler;
  facts: () => ServerFacts;
}

// ---------------------------------------------------------------------------------------------
// /diagnostics/entries

export interface VideoInfo {
  codec: string;
  codecString?: string;
  profile?: string;
  level?: number;
  width: number;
  height: number;
}

export interface AudioInfo {
  codec: string;
  codecString?: string;
  profile?: string;
  sampleRate: number;
  channels: number;
}

export interface InputDiagnostics {
  /** The id killConnection takes. */
  clientId: number;
  streamName: string;
  /** 0 primary, 1 backup, when authenticated. */
  serverIndex?: number;
  /**
   * How Kaltura admitted it: `kaltura` (asked now), `cache` (its answer of the last 10 s) or
   * `stale` (Kaltura was unreachable: its last answer; `awaitingKalturaRecheck` until Kaltura
   * confirms or refuses it), and when that answer was given.
   */
  admission?: { via: AdmissionVia; awaitingKalturaRecheck: boolean; decidedAt: string };
  /** flashVer, e.g. `FMLE/3.0 (compatible; Lavf61.7.100)`; `SRT` for SRT callers. */
  encoder?: string;
  /** How it publishes: `rtmp`, `rtmps` or `srt`. */
  protocol: string;
  /** SRT link: round-trip time, loss and retransmission rates (cumulative). */
  srt?: { rttMs: number; lossPercent: number; retransmitPercent: number; packetsLost: number; packetsRetransmitted: number; packetsDropped: number };
  remoteAddress: string;
  video?: VideoInfo;
  audio?: AudioInfo;
  /** Video frames per second (windowed average, else the core's last second). */
  fps: number;
  /** Media bit rate, bits/s (windowed average, else the core's last second of socket bytes). */
  bitrateBps: number;
  /** Bytes received on the socket over the core's last second, bits/s. */
  socketBitrateBps: number;
  bytesIn: number;
  rttMs?: number;
  uptimeMs: number;
  droppedFrames: number;
  videoFrames: number;
  audioFrames: number;
  /** onMetaData as sent by the encoder. */
  metadata?: Record<string, unknown>;
}

export interface HlsDiagnostics {
  /** Path on the origin (RTMP port, or the separate HTTP port). */
  playlist: string;
  live: boolean;
  segmentsWritten: number;
  targetDurationS: number;
  averageBandwidth?: number;
  peakBandwidth?: number;
  codecs: string[];
}

export interface RenditionDiagnostics {
  streamName: string;
  /** source (the input itself), relay (passthrough under another name), transcode (ffmpeg), other. */
  kind: 'source' | 'relay' | 'transcode' | 'other';
  encode?: string;
  live: boolean;
  video?: VideoInfo;
  audio?: AudioInfo;
  bitrateBps: number | null;
  fps: number | null;
  /** Players and sinks attached. */
  subscribers: number;
  uptimeMs?: number;
  hls?: HlsDiagnostics;
}

export interface TranscoderDiagnostics {
  source: string;
  state: string;
  pid: number | null;
  restarts: number;
  uptimeMs: number;
  fps: number | null;
  speed: number | null;
  droppedFrames: number | null;
  lastExit?: { code: number | null; signal: string | null; ranForMs: number; stderrTail: string };
}

export interface RecordingDiagnostics extends Partial<RecordingEntryStatus> {
  /** Kaltura's recordStatus asks for recording (1 append, 2 per session). */
  enabled: boolean | null;
  state: string;
}

export interface EntryDiagnostics {
  entryId: string;
  partnerId?: number;
  name?: string;
  dvr?: { enabled: boolean; windowMinutes?: number };
  inputs: InputDiagnostics[];
  outputs: {
    renditions: RenditionDiagnostics[];
    transcoders: TranscoderDiagnostics[];
    /** Master playlist of every rendition (Kaltura's playback URL form). */
    playback: { master: string; dvrMaster?: string };
    recording: RecordingDiagnostics;
  };
  players: number;
  /** What Kaltura holds about the entry from this server (liveStream.registerMediaServer). */
  kaltura: KalturaLiveDiagnostics;
}

export interface KalturaLiveDiagnostics {
  /** PLAYABLE / BROADCASTING as last registered here, or 'not registered'. */
  liveStatus: 'PLAYABLE' | 'BROADCASTING' | 'not registered';
  /** The last failed registerMediaServer / unregisterMediaServer (`at`: epoch ms). */
  lastRegistrationError?: { code: string; message: string; at: number };
}

export interface EntriesReport {
  /** Epoch ms of the snapshot. */
  time: number;
  /** Where the playlists are served: the RTMP port answers HTTP too. */
  origin: { port: number; httpPort?: number };
  entries: EntryDiagnostics[];
}

/** The entry of a source or rendition stream `<entryId>_<n>`. */
export function entryOfStream(name: string): string | undefined {
  return parseStreamName(name)?.entryId;
}

export function buildEntries(ctx: DiagnosticsContext): EntriesReport {
  const { ingest, auth, transcodes } = ctx.sources;
  const facts = ctx.facts();
  const stats = ingest.stats();
  const hls = new Map(ingest.hlsStreams().map((h) => [h.name, h] as const));
  const pipelines = transcodes.stats();
  const rates = ctx.rates.sample(stats.streams.map((s) => ({ name: s.name, bytes: s.bytes, videoFrames: s.videoFrames })));
  const streams = new Map(stats.streams.map((s) => [s.name, s] as const));
  const recording = ctx.recording();
  const app = facts.applicationName;

  const entries = new Map<string, EntryDiagnostics>();
  const entry = (entryId: string): EntryDiagnostics => {
    let e = entries.get(entryId);
    if (!e) {
      const master = `/${app}/smil:${entryId}_all.smil/playlist.m3u8`;
      e = { entryId, inputs: [], outputs: { renditions: [], transcoders: [], playback: { master }, recording: { enabled: null, state: 'off' } }, players: 0, kaltura: { liveStatus: 'not registered' } };
      entries.set(entryId, e);
    }
    return e;
  };

  const inputStreams = new Set<string>();
  for (const conn of stats.connections) {
    if (conn.role === 'publisher' && conn.streamName !== undefined) {
      const entryId = auth.entryOf(conn.id) ?? entryOfStream(conn.streamName);
      if (entryId === undefined) continue;
      const e = entry(entryId);
      const admitted = auth.connection(conn.id);
      if (admitted) {
        const k = admitted.entry;
        e.partnerId = admitted.partnerId;
        if (typeof k.name === 'string') e.name = k.name;
        if (k.dvrStatus !== undefined) e.dvr = { enabled: k.dvrStatus === 1, windowMinutes: k.dvrWindow };
        if (k.recordStatus !== undefined) e.outputs.recording.enabled = k.recordStatus > 0;
      }
      const stream = streams.get(conn.streamName);
      inputStreams.add(conn.streamName);
      e.inputs.push(input(conn, stream?.publisher === conn.id ? stream : undefined, rates.get(conn.streamName), admitted));
    } else if (conn.role === 'player' && conn.streamName !== undefined) {
      const entryId = entryOfStream(conn.streamName);
      if (entryId !== undefined) entry(entryId).players++;
    }
  }

  const covered = new Set<string>();
  for (const p of pipelines) {
    const entryId = entryOfStream(p.source);
    if (entryId === undefined) continue;
    const e = entry(entryId);
    for (const r of p.renditions) {
      covered.add(r.streamName);
      e.outputs.renditions.push(rendition(r.streamName, r.kind, r.encode, streams.get(r.streamName), rates.get(r.streamName), hls.get(r.streamName), app));
    }
    if (p.ffmpeg) e.outputs.transcoders.push(transcoder(p, p.ffmpeg));
  }
  // Live streams no pipeline accounts for, other than the inputs themselves.
  for (const s of stats.streams) {
    const entryId = entryOfStream(s.name);
    if (entryId === undefined || covered.has(s.name) || inputStreams.has(s.name)) continue;
    entry(entryId).outputs.renditions.push(rendition(s.name, 'other', undefined, s, rates.get(s.name), hls.get(s.name), app));
  }

  const live = ctx.live();
  for (const e of entries.values()) {
    const registered = live.entry(e.entryId);
    e.kaltura = { liveStatus: registered.kalturaStatus ?? 'not registered', ...(registered.lastError ? { lastRegistrationError: registered.lastError } : {}) };
    const status = recording.entry(e.entryId);
    if (status) e.outputs.recording = { ...status, enabled: e.outputs.recording.enabled ?? true };
    else e.outputs.recording.state = e.outputs.recording.enabled ? 'not recording' : 'off';
    if (e.dvr?.enabled) e.outputs.playback.dvrMaster = `${e.outputs.playback.master}?DVR`;
    e.inputs.sort((a, b) => a.streamName.localeCompare(b.streamName));
    e.outputs.renditions.sort((a, b) => a.streamName.localeCompare(b.streamName, undefined, { numeric: true }));
  }
  return {
    time: Date.now(),
    origin: { port: facts.rtmpPort, ...(facts.httpPort === undefined ? {} : { httpPort: facts.httpPort }) },
    entries: [...entries.values()].sort((a, b) => a.entryId.localeCompare(b.entryId)),
  };
}

function input(conn: ConnectionStatsSnapshot, stream: StreamStatsSnapshot | undefined, rate: StreamRate | undefined, admitted: AuthenticatedConnection | undefined): InputDiagnostics {
  const serverIndex = admitted?.serverIndex;
  const out: InputDiagnostics = {
    clientId: conn.id,
    streamName: conn.streamName as string,
    protocol: conn.protocol,
    remoteAddress: conn.remoteAddress,
    fps: round(rate?.fps ?? conn.fps, 2),
    bitrateBps: Math.round(rate?.bitrateBps ?? conn.bitrateInBps),
    socketBitrateBps: Math.round(conn.bitrateInBps),
    bytesIn: conn.bytesIn,
    uptimeMs: conn.uptimeMs,
    droppedFrames: conn.droppedFrames,
    videoFrames: conn.videoFrames,
    audioFrames: conn.audioFrames,
  };
  if (serverIndex !== undefined) out.serverIndex = serverIndex;
  if (admitted) out.admission = { via: admitted.via, awaitingKalturaRecheck: admitted.awaitingRecheck, decidedAt: new Date(admitted.authenticatedAt).toISOString() };
  if (conn.flashVer !== undefined) out.encoder = maskString(conn.flashVer);
  const video = videoInfo(stream?.video ?? conn.video);
  const audio = audioInfo(stream?.audio ?? conn.audio);
  if (video) out.video = video;
  if (audio) out.audio = audio;
  if (conn.rttMs !== undefined) out.rttMs = conn.rttMs;
  if (conn.srt) {
    out.srt = {
      rttMs: round(conn.srt.rttMs, 1),
      lossPercent: round(conn.srt.lossPercent, 2),
      retransmitPercent: round(conn.srt.retransmitPercent, 2),
      packetsLost: conn.srt.packetsLost,
      packetsRetransmitted: conn.srt.packetsRetransmitted,
      packetsDropped: conn.srt.packetsDropped,
    };
  }
  const metadata = parseMetadata(stream?.metadataJson);
  if (metadata) out.metadata = metadata;
  return out;
}

function rendition(
  streamName: string,
  kind: RenditionDiagnostics['kind'],
  encode: string | undefined,
  stream: StreamStatsSnapshot | undefined,
  rate: StreamRate | undefined,
  hls: HlsStreamSnapshot | undefined,
  app: string,
): RenditionDiagnostics {
  const out: RenditionDiagnostics = {
    streamName,
    kind,
    live: stream !== undefined,
    bitrateBps: rate?.bitrateBps ?? null,
    fps: rate?.fps ?? null,
    subscribers: stream?.subscribers ?? 0,
  };
  if (encode !== undefined) out.encode = encode;
  const video = videoInfo(stream?.video);
  const audio = audioInfo(stream?.audio);
  if (video) out.video = video;
  if (audio) out.audio = audio;
  if (stream) out.uptimeMs = stream.uptimeMs;
  if (hls) {
    out.hls = {
      playlist: `/${app}/${streamName}/playlist.m3u8`,
      live: hls.live,
      segmentsWritten: hls.segmentsWritten,
      targetDurationS: hls.targetDurationS,
      codecs: hls.codecs,
    };
    if (hls.averageBandwidth !== undefined) out.hls.averageBandwidth = hls.averageBandwidth;
    if (hls.peakBandwidth !== undefined) out.hls.peakBandwidth = hls.peakBandwidth;
  }
  return out;
}

function transcoder(p: PipelineStats, s: SupervisorStats): TranscoderDiagnostics {
  const out: TranscoderDiagnostics = {
    source: p.source,
    state: s.state,
    pid: s.pid,
    restarts: s.restarts,
    uptimeMs: s.uptimeMs,
    fps: s.progress?.fps ?? null,
    speed: s.progress?.speed ?? null,
    droppedFrames: s.progress?.dropFrames ?? null,
  };
  if (s.lastExit) {
    out.lastExit = { code: s.lastExit.code, signal: s.lastExit.signal, ranForMs: s.lastExit.ranForMs, stderrTail: maskString(s.lastExit.stderrTail.split('\n').slice(-5).join('\n')) };
  }
  return out;
}

function videoInfo(v: VideoCodecInfo | undefined): VideoInfo | undefined {
  if (!v) return undefined;
  const out: VideoInfo = { codec: v.codec, width: v.width, height: v.height };
  if (v.codecString !== undefined) out.codecString = v.codecString;
  if (v.profile !== undefined) out.profile = v.profile;
  if (v.level !== undefined) out.level = v.level;
  return out;
}

function audioInfo(a: AudioCodecInfo | undefined): AudioInfo | undefined {
  if (!a) return undefined;
  const out: AudioInfo = { codec: a.codec, sampleRate: a.sampleRate, channels: a.channels };
  if (a.codecString !== undefined) out.codecString = a.codecString;
  if (a.profile !== undefined) out.profile = a.profile;
  return out;
}

function parseMetadata(json: string | undefined): Record<string, unknown> | undefined {
  if (json === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(json);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (sanitize(value) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// /diagnostics/errors

export interface RefusalDiagnostics {
  /** ISO time. */
  time: string;
  /** The URL the encoder used, token masked (`t=***`). */
  url: string;
  ip: string;
  message: string;
  stage: RefusalRecord['stage'];
  code: string;
  entryId?: string;
  kalturaCode?: string;
  clientId: number;
}

export interface ErrorsReport {
  /** The last refusals of publishers, newest first. */
  refusals: RefusalDiagnostics[];
  /** Other errors (transcoder, Kaltura API, recording…), newest first. */
  errors: Array<Omit<ErrorRecord, 'time'> & { time: string }>;
  /** Errors since start by kind. */
  totals: Record<string, number>;
}

export function buildErrors(ctx: DiagnosticsContext): ErrorsReport {
  const refusals = ctx.sources.auth
    .refusals()
    .reverse()
    .map((r) => {
      const out: RefusalDiagnostics = { time: new Date(r.time).toISOString(), url: maskString(r.url), ip: r.ip, message: maskString(r.message), stage: r.stage, code: r.code, clientId: r.connectionId };
      if (r.entryId !== undefined) out.entryId = r.entryId;
      if (r.kalturaCode !== undefined) out.kalturaCode = r.kalturaCode;
      return out;
    });
  const errors = ctx.errors
    .list()
    .reverse()
    .map((e) => ({ ...e, time: new Date(e.time).toISOString() }));
  return { refusals, errors, totals: ctx.errors.countsByKind() };
}

// ---------------------------------------------------------------------------------------------
// /diagnostics/info

export interface InfoReport {
  version: string;
  nativeVersion: string;
  node: string;
  hostname: string;
  pid: number;
  workMode: string;
  applicationName: string;
  /** ISO time. */
  startedAt: string;
  uptimeSeconds: number;
  /** CPU and memory of this process and its ffmpeg children. */
  usage: UsageReport;
  counts: { connections: number; publishers: number; players: number; streams: number; entries: number; hlsStreams: number; transcoders: number };
  totals: { connectionsAccepted: number; connectionsRefusedAtAccept: number; refusals: number; errors: number };
  ports: { rtmp: number; http?: number; admin?: number };
  kaltura: {
    serviceUrl?: string;
    /** ISO time of the last call that succeeded. */
    lastSuccessAt: string | null;
    lastLatencyMs: number | null;
    calls: number;
    errorsByCode: Record<string, number>;
    adminKs: { expiresAt: string; expiresInSeconds: number; renewals: number };
  };
  auth: Record<string, number>;
  /** The HLS segment store; `error` says why DVR windows were shortened (disk full, budget). */
  hlsStore: HlsStoreSnapshot;
}

export function buildInfo(ctx: DiagnosticsContext): InfoReport {
  const facts = ctx.facts();
  const { ingest, auth, transcodes, kaltura, session } = ctx.sources;
  const stats = ingest.stats();
  const pipelines = transcodes.stats();
  const pids = pipelines.map((p) => p.ffmpeg?.pid).filter((pid): pid is number => typeof pid === 'number');
  const k = kaltura.stats();
  const entryIds = new Set<string>();
  for (const s of stats.streams) {
    const id = entryOfStream(s.name);
    if (id !== undefined) entryIds.add(id);
  }
  const now = Date.now();
  const refusalTotal = Object.values(auth.refusalTotals()).reduce((a, b) => a + b, 0);
  const errorTotal = Object.values(ctx.errors.countsByKind()).reduce((a, b) => a + b, 0);
  const info: InfoReport = {
    version: facts.version,
    nativeVersion: facts.nativeVersion,
    node: process.version,
    hostname: facts.hostname,
    pid: process.pid,
    workMode: facts.workMode,
    applicationName: facts.applicationName,
    startedAt: new Date(facts.startedAt).toISOString(),
    uptimeSeconds: Math.round((now - facts.startedAt) / 1000),
    usage: ctx.usage.sample(pids),
    counts: {
      connections: stats.connections.length,
      publishers: stats.connections.filter((c) => c.role === 'publisher').length,
      players: stats.connections.filter((c) => c.role === 'player').length,
      streams: stats.streams.length,
      entries: entryIds.size,
      hlsStreams: ingest.hlsStreams().length,
      transcoders: pids.length,
    },
    totals: { connectionsAccepted: stats.totalConnections, connectionsRefusedAtAccept: stats.refusedConnections, refusals: refusalTotal, errors: errorTotal },
    ports: { rtmp: facts.rtmpPort, ...(facts.httpPort === undefined ? {} : { http: facts.httpPort }), ...(facts.adminPort === undefined ? {} : { admin: facts.adminPort }) },
    kaltura: {
      lastSuccessAt: k.lastSuccessAt === undefined ? null : new Date(k.lastSuccessAt).toISOString(),
      lastLatencyMs: k.lastLatencyMs === undefined ? null : Math.round(k.lastLatencyMs * 10) / 10,
      calls: k.calls,
      errorsByCode: k.errorsByCode,
      adminKs: { expiresAt: new Date(session.expiresAt * 1000).toISOString(), expiresInSeconds: Math.round(session.expiresAt - now / 1000), renewals: session.renewals },
    },
    auth: { ...auth.stats() },
    hlsStore: ingest.hlsStore(),
  };
  if (facts.kalturaServiceUrl !== undefined) info.kaltura.serviceUrl = facts.kalturaServiceUrl;
  return info;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
