/**
 * The klive-server daemon: the RTMP ingest core with every publisher authenticated against
 * Kaltura, the admin KS kept alive, and the media-server node registered with Kaltura.
 *
 * `startDaemon(config)` is what the CLI runs and what tests embed; `startDevDaemon(config)`
 * first starts the embedded Kaltura API emulator with the demo fixtures and points the daemon
 * at it (`klive-server --dev`).
 */
import { version } from './package-info';
import { ConfigError, MEDIA_SERVER_PARTNER_ID, redactConfig, type KliveConfig } from './config';
import { demoFixtures, DEMO_ENTRY_ID, DEMO_ENTRY_TOKEN, DEMO_PARTNER_ID, DEMO_RECORDING_ENTRY_ID, DEMO_SRT_ENTRY_ID, DEMO_SRT_PASS, MEDIA_SERVER_ADMIN_SECRET } from './dev/demo-fixtures';
import { srtStreamId } from './dev/srt-pass';
import { startKalturaEmulator, type KalturaEmulator } from './dev/emulator';
import { nativeVersion, writeSelfSignedCert } from './ingest/native';
import { RtmpIngest, type RtmpIngestOptions } from './ingest/rtmp-ingest';
import { AdminSession } from './kaltura/admin-session';
import { KalturaApi, type MediaServerIndex } from './kaltura/api';
import { authGates } from './kaltura/auth/gates';
import { admissionMemoryMs, PublisherAuth } from './kaltura/auth/policy';
import { DecisionStore, DECISIONS_FILE } from './kaltura/decision-store';
import { withLastKnownPlans } from './kaltura/last-known-plans';
import type { RefusalRecord } from './kaltura/auth/refusal-log';
import { KalturaClient, type KalturaLogEntry } from './kaltura/client';
import { LiveRegistration } from './kaltura/live-registration';
import { ServerNodeStatus, type KalturaLiveStreamParams, type KalturaMediaServerNode } from './kaltura/types';
import { ErrorLog, startDaemonControlPlane, type ControlPlane, type RecordError } from './http';
import { createLogger, type Logger } from './log';
import { resolveFfmpeg } from './transcode/ffmpeg-path';
import { TranscodeOrchestrator } from './transcode/orchestrator';
import { DeliveryQueue, RecordingManager, RecordingPolicy } from './recording';
import { RuntimeDirectory } from './paths/runtime-dir';
import { isOwnEphemeralHlsDirectory, sweepEphemeralHlsDirectories } from './paths/defaults';
import { guardProcess } from './process-guard';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mediaServerClientTag } from './hostname';

export interface DaemonOptions {
  /** Default: a logger on stdout per `config.log`. */
  logger?: Logger;
  /**
   * Core options for tests and embedders (pacing, timeouts). Host, port, gates and the decision
   * timeout come from the config and cannot be overridden here.
   */
  ingest?: Omit<RtmpIngestOptions, 'host' | 'port' | 'onConnect' | 'onPublish' | 'decisionTimeoutMs'>;
  /** Dev mode (set by startDevDaemon): the control plane gets a random token when none is configured. */
  dev?: boolean;
}

export interface DaemonKaltura {
  client: KalturaClient;
  api: KalturaApi;
  session: AdminSession;
}

export interface DaemonHandle {
  /** The effective configuration (use redactConfig before printing it). */
  readonly config: KliveConfig;
  readonly ingest: RtmpIngest;
  readonly auth: PublisherAuth;
  /** Transcode pipelines of the live sources. */
  readonly transcodes: TranscodeOrchestrator;
  /** Recordings and their delivery to Kaltura. */
  readonly recordings: { manager: RecordingManager; queue: DeliveryQueue };
  readonly kaltura: DaemonKaltura;
  /** Kaltura's entry-server-nodes of the entries live here (registerMediaServer lifecycle). */
  readonly registration: LiveRegistration;
  /** The bound RTMP port. */
  readonly rtmpPort: number;
  /** The bound SRT (UDP) port, when SRT is on. */
  readonly srtPort: number | undefined;
  /** The bound RTMPS port, when RTMPS is on. */
  readonly rtmpsPort: number | undefined;
  /** This daemon's private directory of transcoder sockets (removed at stop). */
  readonly runtimeDirectory: string;
  /** The last refusals (url with token masked, message, ip, time), oldest first. */
  refusals(): RefusalRecord[];
  /** Diagnostics, metrics and dashboard (src/http); undefined when off (no admin/metrics token). */
  readonly controlPlane: ControlPlane | undefined;
  /** Report an operational error (transcoder, Kaltura, recording…) to /diagnostics/errors. */
  readonly recordError: RecordError;
  /** Graceful shutdown: stop admitting, close sessions, mark the node offline. Idempotent. */
  stop(): Promise<void>;
}

export interface DevInstructions {
  /** Full publish URL (server URL + stream key). */
  publishUrl: string;
  ffmpegCommand: string;
  obsServer: string;
  obsStreamKey: string;
  /** The demo entry's HLS master playlist (every rendition), served on the RTMP port. */
  playbackUrl: string;
  /** ffplay of the playback URL. */
  ffplayCommand: string;
  /** Kaltura's playManifest of the demo entry: every PLAYABLE node's renditions (primary and backup). */
  playManifestUrl: string;
  /** Publish URL of the recorded demo entry (recordStatus on, passthrough). */
  recordingPublishUrl: string;
  /** Where that entry's MP4 segments are written, and where they are moved for Kaltura. */
  recordingDirectory: string;
  recordingSharedDirectory: string;
  recordingSegmentSeconds: number;
  /** SRT publish URL of the demo entry (stream id with its stream password), when SRT is on. */
  srtUrl?: string;
  /** ffmpeg publishing the test signal over SRT. */
  srtFfmpegCommand?: string;
  /** SRT URL and passphrase of the encrypted demo entry (its stream id carries `ep=`). */
  srtEncryptedUrl?: string;
  srtPassphrase?: string;
  /** RTMPS server URL (same stream key as RTMP), when RTMPS is on; the dev certificate is self-signed. */
  rtmpsServer?: string;
}

export interface DevDaemonHandle extends DaemonHandle {
  readonly emulator: KalturaEmulator;
  readonly instructions: DevInstructions;
}

/** Head-room of the core's own decision timer over ours, so our clearer refusal wins. */
const CORE_DECISION_MARGIN_MS = 5000;
/** How long shutdown waits for Kaltura (markOffline, pending beacons). */
const SHUTDOWN_KALTURA_WAIT_MS = 2000;

export async function startDaemon(config: KliveConfig, options: DaemonOptions = {}): Promise<DaemonHandle> {
  const log = options.logger ?? createLogger({ level: config.log.level, format: config.log.format });
  const { serviceUrl, adminSecret } = config.kaltura;
  if (serviceUrl === undefined || adminSecret === undefined) {
    throw new ConfigError('CONFIG_MISSING', ['kaltura.serviceUrl and kaltura.adminSecret are required to start the daemon']);
  }
  log.debug('configuration', { config: redactConfig(config) });
  const errors = new ErrorLog();

  const session = new AdminSession({
    secret: adminSecret,
    partnerId: config.kaltura.partnerId,
    expirySeconds: config.kaltura.ksExpirySeconds,
    renewMarginSeconds: config.kaltura.ksRenewMarginSeconds,
    version: config.kaltura.ksVersion,
  });
  const kalturaLog = log.child({ component: 'kaltura' });
  session.on('renewed', (e) => kalturaLog.info('admin KS renewed', { reason: e.reason, expiresAt: new Date(e.expiresAt * 1000).toISOString(), renewals: e.renewals }));
  const client = new KalturaClient({
    serviceUrl,
    partnerId: config.kaltura.partnerId,
    timeoutMs: config.kaltura.timeoutMs,
    clientTag: mediaServerClientTag(config.hostname),
    session,
    log: (entry: KalturaLogEntry) => {
      const { level, event, ...rest } = entry;
      kalturaLog.log(level, `api ${event}`, rest);
    },
  });
  const api = new KalturaApi(client);
  // Undone in reverse order when start-up fails half-way.
  const undo: Array<() => unknown> = [];
  const unguard = guardProcess({ log, recordError: errors.recorder });
  undo.push(unguard);
  try {
    const recordingLog = log.child({ component: 'recording' });
    // First, before any port is bound: the journal takes the state directory's lock, so a
    // second daemon on the same directory stops here with a clear error.
    const queue = await DeliveryQueue.open({
      stateDirectory: config.recording.stateDirectory,
      mode: config.workMode,
      api,
      sharedDirectory: config.recording.sharedDirectory,
      uploadChunkBytes: config.recording.uploadChunkBytes,
      retryForMs: config.recording.retryForSeconds * 1000,
      retainDeliveredMs: config.recording.retainDeliveredSeconds * 1000,
      diskBudgetBytes: config.recording.diskBudgetBytes,
      log: recordingLog,
    });
    undo.push(() => queue.stop());
    const staleAdmitMs = config.auth.staleAdmitSeconds * 1000;
    const answers = DecisionStore.open({
      file: join(config.recording.stateDirectory, DECISIONS_FILE),
      secret: adminSecret,
      maxAgeMs: admissionMemoryMs(staleAdmitMs),
      log: kalturaLog,
    });
    undo.push(() => answers.close());
    // Partner -5 serves every partner by impersonation; an eCDN server (or one configured with a
    // real partner's secret) acts as that partner only.
    const impersonation = config.workMode === 'kaltura' && config.kaltura.partnerId === MEDIA_SERVER_PARTNER_ID ? 'entry-partner' : 'none';
    const auth = new PublisherAuth({
      api,
      impersonation,
      hostname: config.hostname,
      applicationName: config.applicationName,
      decisionTimeoutMs: config.auth.decisionTimeoutMs,
      store: answers,
      staleAdmitMs,
      attemptsPerClientPerMinute: config.auth.attemptsPerIpPerMinute,
      attemptsPerMinute: config.auth.attemptsPerMinute,
      log: log.child({ component: 'auth' }),
    });
    undo.push(() => auth.close());
    const gates = authGates(auth, log);
    const ffmpeg = resolveFfmpeg(config.ffmpegPath);
    let orchestrator: TranscodeOrchestrator | undefined;
    const runtime = RuntimeDirectory.create({ log });
    undo.push(() => runtime.remove());
    const sweptHls = sweepEphemeralHlsDirectories(config.hls.directory);
    if (sweptHls > 0) log.info('removed HLS directories of servers that are gone', { count: sweptHls });
    const removeOwnHlsDirectory = (): void => {
      if (isOwnEphemeralHlsDirectory(config.hls.directory)) rmSync(config.hls.directory, { recursive: true, force: true });
    };
    undo.push(removeOwnHlsDirectory);

    if (options.dev && config.rtmps.port !== undefined && config.rtmps.certFile && config.rtmps.keyFile && !devCertificateReady(config.rtmps.certFile, config.rtmps.keyFile)) {
      // --dev: a self-signed certificate so that RTMPS works out of the box (encoders must be
      // told to accept it; production configures a real one).
      mkdirSync(dirname(config.rtmps.certFile), { recursive: true, mode: 0o700 });
      writeSelfSignedCert(['localhost', '127.0.0.1', config.hostname], config.rtmps.certFile, config.rtmps.keyFile);
    }
    const ingest = await RtmpIngest.start({
      ...options.ingest,
      host: config.rtmp.host,
      port: config.rtmp.port,
      srtHost: config.srt.port === undefined ? undefined : config.srt.host,
      srtPort: config.srt.port,
      rtmpsHost: config.rtmps.port === undefined ? undefined : config.rtmps.host,
      rtmpsPort: config.rtmps.port,
      tlsCertFile: config.rtmps.port === undefined ? undefined : config.rtmps.certFile,
      tlsKeyFile: config.rtmps.port === undefined ? undefined : config.rtmps.keyFile,
      httpHost: config.http.host,
      httpPort: config.http.port,
      rtmpPlay: config.rtmp.play,
      maxConnections: config.rtmp.maxConnections,
      maxConnectionsPerIp: config.rtmp.maxConnectionsPerIp,
      connectTimeoutMs: config.rtmp.connectTimeoutSeconds * 1000,
      publishTimeoutMs: config.rtmp.publishTimeoutSeconds * 1000,
      httpMaxConnections: config.http.maxConnections,
      httpMaxConnectionsPerIp: config.http.maxConnectionsPerIp,
      httpIdleTimeoutMs: config.http.idleTimeoutSeconds * 1000,
      writeTimeoutMs: config.http.writeTimeoutSeconds * 1000,
      hostname: config.hostname,
      appName: config.applicationName,
      limitOriginHeaderName: config.limitOrigin.headerName,
      limitOriginHeaderValue: config.limitOrigin.headerValue,
      hlsDirectory: config.hls.directory,
      hlsMemoryBudgetBytes: config.hls.memoryBudgetBytes,
      hlsDiskBudgetBytes: config.hls.diskBudgetBytes,
      decisionTimeoutMs: config.auth.decisionTimeoutMs + CORE_DECISION_MARGIN_MS,
      onConnect: gates.onConnect,
      async onPublish(event) {
        const verdict = await gates.onPublish(event);
        const admitted = verdict.accept ? auth.connection(event.connectionId) : undefined;
        if (!admitted || !orchestrator) return verdict;
        const impersonate = impersonation === 'entry-partner' ? admitted.partnerId : undefined;
        // The stream must also have a usable transcode plan (the old server's rule).
        const planned = await orchestrator.admit(event, { entry: admitted.entry, impersonate, serverIndex: admitted.serverIndex });
        if (planned.accept) {
          registration.publish({
            entryId: admitted.entryId,
            serverIndex: admitted.serverIndex,
            streamName: event.streamName,
            connectionId: event.connectionId,
            impersonate,
            records: (admitted.entry.recordStatus ?? 0) !== 0,
          });
        }
        // An SRT caller that encrypts uses the entry's SRT pass as its passphrase (RTMP ignores it).
        const srtPass = admitted.entry.srtPass;
        return planned.accept && typeof srtPass === 'string' && srtPass !== '' ? { ...planned, srtPassphrase: srtPass } : planned;
      },
    });
    undo.push(() => ingest.close(0));
    // Kaltura's view of what is live here (registerMediaServer / unregisterMediaServer).
    const registration = new LiveRegistration({
      api,
      hostname: config.hostname,
      applicationName: config.applicationName,
      refreshMs: config.kaltura.registrationRefreshSeconds * 1000,
      graceMs: config.recording.republishGraceSeconds * 1000,
      isPlayable: (renditions) => {
        const hls = new Map(ingest.hlsStreams().map((h) => [h.name, h] as const));
        return renditions.every((name) => {
          const stream = hls.get(name);
          return stream !== undefined && stream.live && stream.segmentsWritten > 0;
        });
      },
      isPublishing: (streamName) => ingest.stats().streams.some((s) => s.name === streamName && s.publisher !== undefined && s.publisher !== null),
      onPlayable: (playable) => void reportStreams(api, ingest, playable, kalturaLog),
      kick: (connectionIds, reason) => {
        for (const connectionId of connectionIds) {
          errors.recorder('kaltura', `publish ended: Kaltura refuses the live entry: ${reason.message}`, { connectionId, entryId: auth.entryOf(connectionId) });
          try {
            ingest.killConnection(connectionId);
          } catch {
            // Already gone.
          }
        }
      },
      log: kalturaLog.child({ component: 'registration' }),
    });
    ingest.on('unpublish', (e) => registration.unpublish(e.streamName));
    auth.on('stale', (e) =>
      errors.recorder('kaltura', `publisher admitted from Kaltura's decision of ${Math.round(e.ageMs / 1000)} s ago: ${e.reason}`, { entryId: e.entryId, connectionId: e.connectionId }),
    );
    auth.on('revoked', (e) => {
      errors.recorder('kaltura', `publisher admitted while Kaltura was unreachable is refused by Kaltura now: ${e.error.message}`, { entryId: e.entryId, connectionId: e.connectionId });
      try {
        ingest.killConnection(e.connectionId);
      } catch {
        // The server is closing: the connection goes with it.
      }
    });
    orchestrator = new TranscodeOrchestrator({
      ingest,
      // Half the decision time: a bare connect may already have spent the other half on auth.
      api: withLastKnownPlans(api, answers, { maxAgeMs: staleAdmitMs, answerWithinMs: Math.max(1000, config.auth.decisionTimeoutMs / 2), log: log.child({ component: 'transcode' }) }),
      hostname: config.hostname,
      refusePublisher: (connectionId, reason) => {
        try {
          ingest.killConnection(connectionId, reason);
        } catch {
          // The server is closing: the connection goes with it.
        }
      },
      ffmpegPath: ffmpeg.path,
      workDir: runtime.path,
      log: log.child({ component: 'transcode' }),
      onPipelineStarted: (started) => {
        registration.renditions(started.sourceStreamName, started.renditions);
        void recordings.onPipelineStarted(started);
      },
    });
    undo.push(() => orchestrator?.close());
    const recordings = new RecordingManager({
      ingest,
      api,
      queue,
      policy: new RecordingPolicy(api, { enabled: config.recording.enabled }),
      recording: config.recording,
      republishGraceMs: config.recording.republishGraceSeconds * 1000,
      log: recordingLog,
      onError: (streamName, message) => errors.recorder('recording', message, { streamName }),
    });
    const recovered = await recordings.recover();
    if (recovered > 0) recordingLog.warn('recordings found from a previous run, queued for delivery', { segments: recovered });
    queue.start();
    const entryFields = (connectionId: number) => ({ connectionId, entryId: auth.entryOf(connectionId) });
    ingest.on('codecInfo', (e) =>
      log.info('codecs', { ...entryFields(e.connectionId), streamName: e.streamName, video: e.video?.codecString ?? e.video?.codec, audio: e.audio?.codecString ?? e.audio?.codec, width: e.video?.width, height: e.video?.height }),
    );
    ingest.on('metadata', (e) => log.debug('metadata', { ...entryFields(e.connectionId), streamName: e.streamName, metadata: e.json }));
    ingest.on('unpublish', (e) => log.info('unpublish', { ...entryFields(e.connectionId), streamName: e.streamName, reason: e.reason }));
    ingest.on('warning', (e) => log.warn('connection warning', { ...entryFields(e.connectionId), message: e.message }));
    ingest.on('disconnect', (e) => {
      // A refused connection already had its (throttled) refusal line: its end is detail.
      log.log(auth.wasRefused(e.connectionId) ? 'debug' : 'info', 'disconnect', {
        ...entryFields(e.connectionId),
        remoteAddress: e.remoteAddress,
        reason: e.reason,
        bytesIn: e.bytesIn,
        bytesOut: e.bytesOut,
        durationMs: e.durationMs,
      });
      auth.disconnect(e.connectionId);
    });

    const controlPlane = await startDaemonControlPlane({ config, dev: options.dev === true, version, ingest, auth, transcodes: orchestrator, kaltura: { client, session }, errors, log: log.child({ component: 'http' }) });
    undo.push(() => controlPlane?.close());
    controlPlane?.setLiveStatusSource(registration);
    controlPlane?.setRecordingSource({
      deliveries: () => {
        const c = queue.counters();
        return { pending: c.pending, failed: c.failed, exceededMaxDuration: c.exceededMaxDuration };
      },
      entry: (entryId) => recordings.entryStatus(entryId),
    });

    const node = new NodeRegistration(api, config, kalturaLog, ingest.httpPort ?? ingest.port);
    await node.register();
    node.startHeartbeat(config.kaltura.heartbeatIntervalSeconds);
    const renewal = new KsRenewal(session);
    renewal.start();

    log.info('klive-server started', {
      version,
      nativeVersion: nativeVersion(),
      rtmp: ingest.address,
      srt: ingest.srtPort === undefined ? undefined : `${config.srt.host}:${ingest.srtPort}`,
      rtmps: ingest.rtmpsPort === undefined ? undefined : `${config.rtmps.host}:${ingest.rtmpsPort}`,
      http: ingest.httpPort === undefined ? undefined : `${config.http.host}:${ingest.httpPort}`,
      ffmpeg: `${ffmpeg.path} (${ffmpeg.source})`,
      hostname: config.hostname,
      workMode: config.workMode,
      partnerId: config.kaltura.partnerId,
      impersonation,
      serviceUrl,
    });

    let stopping: Promise<void> | undefined;
    return {
      config,
      ingest,
      auth,
      transcodes: orchestrator,
      recordings: { manager: recordings, queue },
      kaltura: { client, api, session },
      registration,
      rtmpPort: ingest.port,
      srtPort: ingest.srtPort,
      rtmpsPort: ingest.rtmpsPort,
      runtimeDirectory: runtime.path,
      refusals: () => auth.refusals(),
      controlPlane,
      recordError: errors.recorder,
      stop() {
        stopping ??= (async () => {
          log.info('shutting down');
          await controlPlane?.close();
          auth.close();
          renewal.stop();
          node.stopHeartbeat();
          await orchestrator?.close();
          await ingest.close(2000);
          runtime.remove();
          removeOwnHlsDirectory();
          await queue.stop();
          await answers.close();
          // Kaltura hears that the entries stopped here before the node goes offline.
          const beacons = auth.flushBeacons();
          await withTimeout(registration.shutdown(), SHUTDOWN_KALTURA_WAIT_MS);
          await withTimeout(Promise.all([node.markOffline(), beacons]), SHUTDOWN_KALTURA_WAIT_MS);
          log.info('stopped');
          unguard();
        })();
        return stopping;
      },
    };
  } catch (error) {
    for (const step of undo.reverse()) await Promise.resolve().then(step).catch(() => undefined);
    throw error;
  }
}

/**
 * `--dev`: the embedded Kaltura API emulator with the demo partner and entries, and the daemon
 * as partner -5 against it. `config` should come from loadConfig({ dev: true }); its Kaltura
 * service URL, partner and secret are replaced by the emulator's.
 */
export async function startDevDaemon(config: KliveConfig, options: DaemonOptions = {}): Promise<DevDaemonHandle> {
  // forceProxy: playManifest lists a backup node's renditions next to the primary's, so a
  // second node (`--dev --backup-of`) gives players a redundant twin of every rendition.
  const emulator = await startKalturaEmulator({ fixtures: demoFixtures(), liveDeliveryForceProxy: true });
  let daemon: DaemonHandle;
  let devConfig: KliveConfig;
  try {
    ({ daemon, devConfig } = await startDevNode(config, emulator.url, options));
  } catch (err) {
    await emulator.stop();
    throw err;
  }
  const stopDaemon = daemon.stop;
  let stopping: Promise<void> | undefined;
  return {
    ...daemon,
    emulator,
    instructions: devInstructions(devConfig, daemon, 0, emulator.url),
    stop() {
      stopping ??= (async () => {
        await stopDaemon();
        await emulator.stop();
      })();
      return stopping;
    },
  };
}

export interface DevBackupHandle extends DaemonHandle {
  /** The primary's Kaltura API emulator this backup registers with. */
  readonly kalturaUrl: string;
  readonly instructions: DevInstructions;
}

/**
 * `--dev --backup-of URL`: a second node for the demo entry (server index 1), registered with
 * the primary's embedded emulator at URL, so failover can be tried on one machine. Give each
 * node its own address (`--host 127.0.0.3 --hostname 127.0.0.3`): Kaltura builds player URLs
 * from the node's hostname.
 */
export async function startDevBackup(config: KliveConfig, primaryKalturaUrl: string, options: DaemonOptions = {}): Promise<DevBackupHandle> {
  const kalturaUrl = primaryKalturaUrl.replace(/\/+$/, '');
  const { daemon, devConfig } = await startDevNode(config, kalturaUrl, options);
  return { ...daemon, kalturaUrl, instructions: devInstructions(devConfig, daemon, 1, kalturaUrl) };
}

async function startDevNode(config: KliveConfig, serviceUrl: string, options: DaemonOptions): Promise<{ daemon: DaemonHandle; devConfig: KliveConfig }> {
  const devConfig: KliveConfig = {
    ...config,
    workMode: 'kaltura',
    kaltura: { ...config.kaltura, serviceUrl, partnerId: MEDIA_SERVER_PARTNER_ID, adminSecret: MEDIA_SERVER_ADMIN_SECRET },
  };
  const daemon = await startDaemon(devConfig, { ...options, dev: true });
  return { daemon, devConfig };
}

/** Kaltura's playManifest URL of the demo entry (live HLS): the primary's and backup's renditions. */
export function demoPlayManifestUrl(kalturaUrl: string): string {
  return `${kalturaUrl}/p/${DEMO_PARTNER_ID}/sp/${DEMO_PARTNER_ID}00/playManifest/entryId/${DEMO_ENTRY_ID}/format/applehttp/protocol/http/a.m3u8`;
}

function devInstructions(devConfig: KliveConfig, daemon: DaemonHandle, serverIndex: 0 | 1, kalturaUrl: string): DevInstructions {
  const host = publicHost(devConfig.rtmp.host);
  const obsServer = `rtmp://${host}:${daemon.rtmpPort}/${devConfig.applicationName}/?p=${DEMO_PARTNER_ID}&e=${DEMO_ENTRY_ID}&i=${serverIndex}&t=${DEMO_ENTRY_TOKEN}`;
  const obsStreamKey = `${DEMO_ENTRY_ID}_1`;
  const publishUrl = `${obsServer}/${obsStreamKey}`;
  const ffmpegCommand =
    `ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 ` +
    `-c:v libx264 -preset veryfast -tune zerolatency -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -f flv '${publishUrl}'`;
  const playbackUrl = `http://${host}:${daemon.rtmpPort}/${devConfig.applicationName}/smil:${DEMO_ENTRY_ID}_all.smil/playlist.m3u8`;
  const recordingPublishUrl = `rtmp://${host}:${daemon.rtmpPort}/${devConfig.applicationName}/?p=${DEMO_PARTNER_ID}&e=${DEMO_RECORDING_ENTRY_ID}&i=${serverIndex}&t=${DEMO_ENTRY_TOKEN}/${DEMO_RECORDING_ENTRY_ID}_1`;
  const srtUrl = daemon.srtPort === undefined ? undefined : `srt://${host}:${daemon.srtPort}?streamid=${srtStreamId(DEMO_ENTRY_ID, serverIndex, DEMO_ENTRY_TOKEN)}`;
  const srtEncryptedUrl = daemon.srtPort === undefined ? undefined : `srt://${host}:${daemon.srtPort}?streamid=${srtStreamId(DEMO_SRT_ENTRY_ID, serverIndex, DEMO_ENTRY_TOKEN, DEMO_SRT_PASS)}`;
  const srtFfmpegCommand =
    srtUrl === undefined
      ? undefined
      : `ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 ` +
        `-c:v libx264 -preset veryfast -tune zerolatency -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -f mpegts '${srtUrl}'`;
  const rtmpsServer =
    daemon.rtmpsPort === undefined ? undefined : `rtmps://${host}:${daemon.rtmpsPort}/${devConfig.applicationName}/?p=${DEMO_PARTNER_ID}&e=${DEMO_ENTRY_ID}&i=${serverIndex}&t=${DEMO_ENTRY_TOKEN}`;
  return {
    publishUrl,
    ffmpegCommand,
    obsServer,
    obsStreamKey,
    playbackUrl,
    ffplayCommand: `ffplay '${playbackUrl}'`,
    playManifestUrl: demoPlayManifestUrl(kalturaUrl),
    recordingPublishUrl,
    recordingDirectory: join(devConfig.recording.directory, DEMO_RECORDING_ENTRY_ID),
    recordingSharedDirectory: join(devConfig.recording.sharedDirectory, DEMO_RECORDING_ENTRY_ID),
    recordingSegmentSeconds: devConfig.recording.segmentDurationSeconds,
    srtUrl,
    srtFfmpegCommand,
    srtEncryptedUrl,
    srtPassphrase: srtEncryptedUrl === undefined ? undefined : DEMO_SRT_PASS,
    rtmpsServer,
  };
}

/**
 * Whether --dev's certificate can be used as it is. The generated pair is one file; a file an
 * earlier version wrote (the certificate alone, its key beside it) is made again.
 */
function devCertificateReady(certFile: string, keyFile: string): boolean {
  if (!existsSync(certFile)) return false;
  if (certFile !== keyFile) return existsSync(keyFile);
  try {
    return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(readFileSync(certFile, 'utf8'));
  } catch {
    return false;
  }
}

/** The human-readable --dev banner. */
export function devBanner(handle: DevDaemonHandle): string {
  const i = handle.instructions;
  return [
    '',
    `klive-server ${version} is running in dev mode: the embedded Kaltura API emulator answers at ${handle.emulator.url}`,
    `(partner ${DEMO_PARTNER_ID}, entry ${DEMO_ENTRY_ID}, token ${DEMO_ENTRY_TOKEN}; public demo values).`,
    '',
    'Publish a test signal with ffmpeg:',
    `  ${i.ffmpegCommand}`,
    '',
    'Or with OBS (Settings → Stream → Service: Custom):',
    `  Server:     ${i.obsServer}`,
    `  Stream Key: ${i.obsStreamKey}`,
    '',
    ...(i.srtFfmpegCommand && i.srtUrl
      ? [
          'Or over SRT (MPEG-TS; the stream id carries the entry and its stream password, as Kaltura hands it out):',
          `  ${i.srtFfmpegCommand}`,
          `  OBS: Server ${i.srtUrl}`,
          ...(i.srtEncryptedUrl ? [`  Encrypted (entry ${DEMO_SRT_ENTRY_ID}, SRT passphrase ${i.srtPassphrase}): ${i.srtEncryptedUrl}&passphrase=${i.srtPassphrase}`] : []),
          '',
        ]
      : []),
    ...(i.rtmpsServer
      ? [
          'Or over RTMPS (RTMP in TLS; this dev certificate is self-signed, so the encoder must accept it):',
          `  Server: ${i.rtmpsServer}   Stream Key: ${i.obsStreamKey}`,
          '',
        ]
      : []),
    'Watch it (HLS master playlist of every rendition, on the RTMP port; playable a few seconds after the publish starts):',
    `  ${i.playbackUrl}`,
    `  ${i.ffplayCommand}`,
    '',
    "Or as Kaltura's players get it (playManifest: this node and a backup, if one runs; see below):",
    `  ${i.playManifestUrl}`,
    '',
    'Run a backup node for failover on this machine (another loopback address), then publish to both:',
    `  klive-server --dev --backup-of ${handle.emulator.url} --host 127.0.0.3 --hostname 127.0.0.3 --admin-port 8087`,
    '',
    `Record it: entry ${DEMO_RECORDING_ENTRY_ID} has recording on. Publish the same way to`,
    `  ${i.recordingPublishUrl}`,
    `  and every ${i.recordingSegmentSeconds} s an MP4 segment is written under ${i.recordingDirectory}/,`,
    `  moved to ${i.recordingSharedDirectory}/ and appended to the entry (log: "recording segment delivered").`,
    '',
    `Recordings and state of this run: ${handle.config.recording.directory}`,
    '',
    ...(handle.controlPlane
      ? ['Dashboard (diagnostics, live previews; the link carries the admin token):', `  ${handle.controlPlane.dashboardUrl(true)}`, '']
      : []),
    'Stop with Ctrl-C.',
    '',
  ].join('\n');
}

/** The --dev --backup-of banner. */
export function devBackupBanner(handle: DevBackupHandle): string {
  const i = handle.instructions;
  return [
    '',
    `klive-server ${version} is running as the demo entry's backup node (server index 1), registered with ${handle.kalturaUrl}.`,
    '',
    'Publish the same signal to the primary and to this node, e.g. one ffmpeg to both (tee):',
    `  ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -c:v libx264 -preset veryfast -tune zerolatency -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -map 0:v -map 1:a -flags:v +global_header -flags:a +global_header -f tee '[f=flv:onfail=ignore]PRIMARY_PUBLISH_URL|[f=flv:onfail=ignore]${i.publishUrl}'`,
    '',
    "Play Kaltura's playManifest (both nodes' renditions); stop the primary and playback continues from here:",
    `  ${i.playManifestUrl}`,
    '',
    'Stop with Ctrl-C.',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

/**
 * Reports the renditions this node serves for a PLAYABLE (entry, index) on its entry-server-node
 * (entryServerNode.list + update, streams): Kaltura's playManifest lists them in its proxied
 * master, the backup's next to the primary's, so players have a redundant twin of every
 * rendition. flavorId is the rendition's `<entryId>_<flavorParamsId>` suffix; the bit rate is the
 * origin's peak over the live window (Kaltura lists the backup with the primary's bit rates).
 */
async function reportStreams(
  api: KalturaApi,
  ingest: RtmpIngest,
  p: { entryId: string; serverIndex: MediaServerIndex; renditions: string[]; impersonate?: number },
  log: Logger,
): Promise<void> {
  try {
    // The registration may answer after shutdown began: the ingest is closed then.
    const hls = new Map(ingest.hlsStreams().map((h) => [h.name, h] as const));
    const streams: KalturaLiveStreamParams[] = [];
    for (const name of p.renditions) {
      if (!name.startsWith(`${p.entryId}_`)) continue;
      const flavorId = name.slice(p.entryId.length + 1);
      if (!/^\d+$/.test(flavorId)) continue;
      streams.push({ objectType: 'KalturaLiveStreamParams', flavorId, bitrate: hls.get(name)?.peakBandwidth ?? 0 });
    }
    if (streams.length === 0) return;
    const node = await api.entryServerNodeOf(p.entryId, p.serverIndex, p.impersonate);
    if (!node) return;
    await api.entryServerNodeUpdateStreams(node.id, streams, p.impersonate);
  } catch (err) {
    log.warn('renditions not reported to Kaltura', { entryId: p.entryId, serverIndex: p.serverIndex, error: err });
  }
}

/**
 * serverNode.reportStatus registers this host as a media server (Kaltura's liveStream.authenticate
 * wants a registered, enabled node) and is its heartbeat; markOffline on shutdown. Failures are
 * logged, never fatal: Kaltura may be briefly unreachable when the server starts.
 */
class NodeRegistration {
  private nodeId?: number;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly api: KalturaApi,
    private readonly config: KliveConfig,
    private readonly log: Logger,
    /** Where this node serves HLS: Kaltura's playManifest builds player URLs from it (port `http-hls`, default 1935). */
    private readonly playbackPort: number,
  ) {}

  async register(): Promise<void> {
    const node: KalturaMediaServerNode = {
      objectType: 'KalturaWowzaMediaServerNode',
      name: this.config.hostname,
      hostName: this.config.hostname,
      description: `klive-server ${version}`,
      applicationName: this.config.applicationName,
      mediaServerPortConfig: [{ objectType: 'KalturaKeyValue', key: 'http-hls', value: String(this.playbackPort) }],
    };
    try {
      const registered = await this.api.serverNodeReportStatus(this.config.hostname, node, ServerNodeStatus.Active);
      const first = this.nodeId === undefined;
      this.nodeId = registered.id;
      if (first) this.log.info('media server node registered', { hostname: this.config.hostname, serverNodeId: registered.id });
      else this.log.debug('heartbeat', { serverNodeId: registered.id });
    } catch (err) {
      this.log.warn('media server node not registered', { hostname: this.config.hostname, error: err });
    }
  }

  startHeartbeat(intervalSeconds: number): void {
    if (intervalSeconds <= 0) return;
    this.timer = setInterval(() => void this.register(), intervalSeconds * 1000);
    this.timer.unref();
  }

  stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async markOffline(): Promise<void> {
    if (this.nodeId === undefined) return;
    try {
      await this.api.serverNodeMarkOffline(this.nodeId);
      this.log.info('media server node marked offline', { serverNodeId: this.nodeId });
    } catch (err) {
      this.log.warn('media server node not marked offline', { serverNodeId: this.nodeId, error: err });
    }
  }
}

/**
 * Renews the admin KS on a timer, before it expires, even when no call needs it: AdminSession
 * alone renews lazily on the next call, which would leave an expired KS in place through a quiet
 * night and make diagnostics show it.
 */
class KsRenewal {
  private timer?: NodeJS.Timeout;

  constructor(private readonly session: AdminSession) {}

  start(): void {
    const renewAt = this.session.expiresAt - this.session.renewMarginSeconds;
    const delayMs = Math.max(1000, renewAt * 1000 - Date.now() + 50);
    this.timer = setTimeout(() => {
      this.session.ks();
      this.start();
    }, delayMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

function publicHost(bind: string): string {
  if (bind === '0.0.0.0' || bind === '::' || bind === '') return '127.0.0.1';
  return bind.includes(':') ? `[${bind}]` : bind;
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.then(() => undefined, () => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  if (timer) clearTimeout(timer);
}
