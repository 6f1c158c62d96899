/**
 * klive-server configuration: one JSON file, then environment variables, then command-line
 * overrides (later wins), validated by one schema.
 *
 * Every error names the key and where its value came from, e.g.
 * `config.json: kaltura.serviceUrl: must be a URL` or
 * `environment KLIVE_PARTNER_ID: kaltura.partnerId: must be an integer`.
 *
 * The admin secret is a credential: `redactConfig` masks it for any dump, and nothing here
 * puts it in an error message.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { LOG_LEVELS } from './log';
import { defaultStateRoot, devStateRoot, ephemeralHlsDirectoryName } from './paths/defaults';
import { fullyQualifiedHostname } from './hostname';

/** The built-in Kaltura partner of media servers (DESIGN.md "Partner -5"). */
export const MEDIA_SERVER_PARTNER_ID = -5;

const port = z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').min(0, 'must be 0..65535').max(65535, 'must be 0..65535');
const positiveInt = z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').positive('must be positive');
const nonEmpty = z.string({ invalid_type_error: 'must be a string' }).min(1, 'must not be empty');
/** A bearer token: long enough not to be guessed, and safe in a header and a query string. */
const secretToken = z
  .string({ invalid_type_error: 'must be a string' })
  .min(16, 'must be at least 16 characters')
  .regex(/^[A-Za-z0-9._~-]+$/, 'must use only letters, digits and . _ ~ -');

const kalturaSchema = z
  .object({
    /** e.g. https://www.kaltura.com (the API root, without /api_v3). */
    serviceUrl: z.string({ invalid_type_error: 'must be a URL' }).refine(isHttpUrl, 'must be a URL').optional(),
    partnerId: z.number({ invalid_type_error: 'must be an integer' }).int('must be an integer').default(MEDIA_SERVER_PARTNER_ID),
    adminSecret: nonEmpty.optional(),
    /** Per API request. */
    timeoutMs: positiveInt.default(10_000),
    ksVersion: z.union([z.literal(1), z.literal(2)], { errorMap: () => ({ message: 'must be 1 or 2' }) }).default(2),
    ksExpirySeconds: positiveInt.default(86_400),
    /** Renew the admin KS this long before it expires (the old server renewed after 23 of 24 h). */
    ksRenewMarginSeconds: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').min(0, 'must be >= 0').default(3600),
    /** serverNode.reportStatus heartbeat; 0 registers once at start only. */
    heartbeatIntervalSeconds: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').min(0, 'must be >= 0').default(60),
    /**
     * liveStream.registerMediaServer PLAYABLE refresh of every live entry; Kaltura drops an
     * entry-server-node not refreshed for 120 s (media_server_cache_expiry).
     */
    registrationRefreshSeconds: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').min(1, 'must be >= 1').max(110, 'must be <= 110 (Kaltura expires nodes after 120 s)').default(60),
  })
  .strict();

const schema = z
  .object({
    kaltura: kalturaSchema.default({}),
    /** kaltura: the server serves every partner through partner -5; ecdn: one partner's own server. */
    workMode: z.enum(['kaltura', 'ecdn'], { errorMap: () => ({ message: "must be 'kaltura' or 'ecdn'" }) }).default('kaltura'),
    /** The media-server node name Kaltura knows this server by. */
    hostname: nonEmpty.optional(),
    applicationName: nonEmpty.default('kLive'),
    rtmp: z
      .object({
        host: nonEmpty.default('0.0.0.0'),
        port: port.default(1935),
        /** Who may play live streams over RTMP: loopback (local tools), open (anyone; loopback only while limitOrigin is set), off. */
        play: z.enum(['loopback', 'open', 'off'], { errorMap: () => ({ message: "must be 'loopback', 'open' or 'off'" }) }).default('loopback'),
        /** RTMP connections at once, in all and from one IP address. */
        maxConnections: positiveInt.default(2000),
        maxConnectionsPerIp: positiveInt.default(100),
        /** After the handshake, connect must arrive within this; after the connect, publish or play. */
        connectTimeoutSeconds: positiveInt.default(10),
        publishTimeoutSeconds: positiveInt.default(10),
      })
      .strict()
      .default({}),
    // HTTP is served on the RTMP port (first-byte sniffing, as Wowza did); a separate HTTP
    // listener only when http.port is set.
    http: z
      .object({
        host: nonEmpty.default('0.0.0.0'),
        port: port.optional(),
        /** HTTP origin connections at once (both ports together), in all and from one IP address. */
        maxConnections: positiveInt.default(4000),
        maxConnectionsPerIp: positiveInt.default(200),
        /** A connection waiting for a request that moves no byte this long is closed. */
        idleTimeoutSeconds: positiveInt.default(30),
        /** A response the client does not read for this long is abandoned and the connection closed. */
        writeTimeoutSeconds: positiveInt.default(10),
      })
      .strict()
      .default({}),
    /** SRT ingest (UDP): off unless a port is set (on in --dev: 9000). */
    srt: z.object({ host: nonEmpty.default('0.0.0.0'), port: port.optional() }).strict().default({}),
    /**
     * RTMPS ingest (RTMP in TLS): off unless a port is set (Kaltura's default is 443; on in --dev:
     * 1936 with a generated self-signed certificate). The certificate chain and key are PEM files,
     * reloaded without a restart when they change.
     */
    rtmps: z
      .object({ host: nonEmpty.default('0.0.0.0'), port: port.optional(), certFile: nonEmpty.optional(), keyFile: nonEmpty.optional() })
      .strict()
      .default({}),
    limitOrigin: z.object({ headerName: nonEmpty.optional(), headerValue: nonEmpty.optional() }).strict().default({}),
    recording: z
      .object({
        /** Record entries whose recordStatus asks for it (and whose partner lacks Kaltura recording). */
        enabled: z.boolean({ invalid_type_error: 'must be true or false' }).default(true),
        /** Where the recorder writes segments (per rendition: <directory>/<entryId>/<streamName>/). */
        directory: nonEmpty.optional(),
        fileGroup: nonEmpty.default('kaltura'),
        segmentDurationSeconds: positiveInt.default(900),
        /** An encoder that reconnects within this continues its recording; after it the last segment is closed. */
        republishGraceSeconds: positiveInt.default(30),
        /** kaltura workMode: segments are moved here (<sharedDirectory>/<entryId>/<file>) and Kaltura reads them by path. */
        sharedDirectory: nonEmpty.optional(),
        /** The delivery journal; must survive restarts. */
        stateDirectory: nonEmpty.optional(),
        /** Retry a delivery this long before marking it failed (3 days). */
        retryForSeconds: positiveInt.default(259_200),
        /** ecdn workMode: uploadToken.upload chunk size. */
        uploadChunkBytes: positiveInt.default(8 * 1024 * 1024),
        /** Keep delivered local files (ecdn workMode) this long; 0 deletes them at once. */
        retainDeliveredSeconds: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').min(0, 'must be >= 0').default(0),
        /** Local segment bytes above which the oldest delivered files are deleted first; 0 = no budget. */
        diskBudgetBytes: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').min(0, 'must be >= 0').default(0),
        /** onMetaDataRecording sync point interval while recording. */
        syncPointIntervalSeconds: positiveInt.default(60),
      })
      .strict()
      .default({}),
    /** The HLS segment store: live edge in memory, the rest of each DVR window on disk. */
    hls: z
      .object({
        /** Directory of the on-disk segments (private, cleared at start, one server each). */
        directory: nonEmpty.optional(),
        /** In-memory segments of all renditions together; 0 = a 128th of RAM (64 MiB..1 GiB). */
        memoryBudgetBytes: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').min(0, 'must be >= 0').default(0),
        /** Segment files together; past it the oldest DVR segments go first. 0 = no budget. */
        diskBudgetBytes: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').min(0, 'must be >= 0').default(0),
      })
      .strict()
      .default({}),
    maxPtsDriftMs: positiveInt.default(10_000),
    ffmpegPath: nonEmpty.optional(),
    log: z
      .object({
        level: z.enum(LOG_LEVELS, { errorMap: () => ({ message: `must be one of ${LOG_LEVELS.join(', ')}` }) }).default('info'),
        format: z.enum(['auto', 'json', 'pretty'], { errorMap: () => ({ message: 'must be auto, json or pretty' }) }).default('auto'),
      })
      .strict()
      .default({}),
    /**
     * The control plane (diagnostics, metrics, dashboard; src/http). Without a token it is off,
     * except in dev mode, where a random token is generated and printed.
     */
    admin: z
      .object({ host: nonEmpty.default('0.0.0.0'), port: port.default(8086), token: secretToken.optional() })
      .strict()
      .default({}),
    /** A separate token for Prometheus scrapes of /metrics (the admin token works too). */
    metrics: z.object({ token: secretToken.optional() }).strict().default({}),
    auth: z
      .object({
        /** Longest a connect/publish waits for Kaltura before it is refused; default kaltura.timeoutMs. */
        decisionTimeoutMs: positiveInt.optional(),
        /** While Kaltura is unreachable, admit a publisher Kaltura admitted this recently (0: never). */
        staleAdmitSeconds: z.number({ invalid_type_error: 'must be a number' }).int('must be an integer').min(0, 'must be >= 0').default(86_400),
        /** Kaltura authentications of publishers not admitted recently, per client address (IPv6: /64) per minute. */
        attemptsPerIpPerMinute: positiveInt.default(60),
        /** The same, all clients together. */
        attemptsPerMinute: positiveInt.default(600),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.kaltura.ksRenewMarginSeconds >= c.kaltura.ksExpirySeconds) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['kaltura', 'ksRenewMarginSeconds'], message: 'must be less than kaltura.ksExpirySeconds' });
    }
    if ((c.limitOrigin.headerName === undefined) !== (c.limitOrigin.headerValue === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['limitOrigin'], message: 'headerName and headerValue must be set together' });
    }
  });

type Parsed = z.infer<typeof schema>;

/** The effective configuration, every default filled in. */
export interface KliveConfig extends Omit<Parsed, 'hostname' | 'recording' | 'auth' | 'hls'> {
  hostname: string;
  hls: Parsed['hls'] & { directory: string };
  recording: Parsed['recording'] & { directory: string; sharedDirectory: string; stateDirectory: string };
  auth: Parsed['auth'] & { decisionTimeoutMs: number };
}

/** The config as a file may write it: every key optional. */
export type KliveConfigInput = z.input<typeof schema>;

export type ConfigErrorCode =
  /** The file cannot be read. */
  | 'CONFIG_UNREADABLE'
  /** The file is not JSON. */
  | 'CONFIG_NOT_JSON'
  /** A key is unknown or its value is invalid. */
  | 'CONFIG_INVALID'
  /** serviceUrl / adminSecret missing outside dev mode. */
  | 'CONFIG_MISSING'
  /** A `--set` argument is not `key=value`. */
  | 'CONFIG_BAD_OVERRIDE';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: ConfigErrorCode;
  /** Every problem found, one per line of `message`. */
  readonly problems: readonly string[];

  constructor(code: ConfigErrorCode, problems: readonly string[]) {
    super(problems.join('\n'));
    this.code = code;
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Keys that environment variables and `--set` can reach

type Kind = 'string' | 'int' | 'number' | 'bool';

interface KeySpec {
  kind: Kind;
  env?: string;
}

/**
 * Every scalar key, its type (for parsing text from the environment / command line) and its
 * environment variable. README.md "Configuration" documents the same table.
 */
export const CONFIG_KEYS: Readonly<Record<string, KeySpec>> = {
  'kaltura.serviceUrl': { kind: 'string', env: 'KLIVE_SERVICE_URL' },
  'kaltura.partnerId': { kind: 'int', env: 'KLIVE_PARTNER_ID' },
  'kaltura.adminSecret': { kind: 'string', env: 'KLIVE_ADMIN_SECRET' },
  'kaltura.timeoutMs': { kind: 'int', env: 'KLIVE_API_TIMEOUT_MS' },
  'kaltura.ksVersion': { kind: 'int', env: 'KLIVE_KS_VERSION' },
  'kaltura.ksExpirySeconds': { kind: 'int', env: 'KLIVE_KS_EXPIRY_SECONDS' },
  'kaltura.ksRenewMarginSeconds': { kind: 'int', env: 'KLIVE_KS_RENEW_MARGIN_SECONDS' },
  'kaltura.heartbeatIntervalSeconds': { kind: 'int', env: 'KLIVE_HEARTBEAT_INTERVAL_SECONDS' },
  'kaltura.registrationRefreshSeconds': { kind: 'int', env: 'KLIVE_REGISTRATION_REFRESH_SECONDS' },
  workMode: { kind: 'string', env: 'KLIVE_WORK_MODE' },
  hostname: { kind: 'string', env: 'KLIVE_HOSTNAME' },
  applicationName: { kind: 'string', env: 'KLIVE_APPLICATION_NAME' },
  'rtmp.host': { kind: 'string', env: 'KLIVE_RTMP_HOST' },
  'rtmp.port': { kind: 'int', env: 'KLIVE_RTMP_PORT' },
  'rtmp.play': { kind: 'string', env: 'KLIVE_RTMP_PLAY' },
  'rtmp.maxConnections': { kind: 'int', env: 'KLIVE_RTMP_MAX_CONNECTIONS' },
  'rtmp.maxConnectionsPerIp': { kind: 'int', env: 'KLIVE_RTMP_MAX_CONNECTIONS_PER_IP' },
  'rtmp.connectTimeoutSeconds': { kind: 'int', env: 'KLIVE_RTMP_CONNECT_TIMEOUT_SECONDS' },
  'rtmp.publishTimeoutSeconds': { kind: 'int', env: 'KLIVE_RTMP_PUBLISH_TIMEOUT_SECONDS' },
  'http.host': { kind: 'string', env: 'KLIVE_HTTP_HOST' },
  'http.port': { kind: 'int', env: 'KLIVE_HTTP_PORT' },
  'srt.host': { kind: 'string', env: 'KLIVE_SRT_HOST' },
  'srt.port': { kind: 'int', env: 'KLIVE_SRT_PORT' },
  'rtmps.host': { kind: 'string', env: 'KLIVE_RTMPS_HOST' },
  'rtmps.port': { kind: 'int', env: 'KLIVE_RTMPS_PORT' },
  'rtmps.certFile': { kind: 'string', env: 'KLIVE_RTMPS_CERT_FILE' },
  'rtmps.keyFile': { kind: 'string', env: 'KLIVE_RTMPS_KEY_FILE' },
  'http.maxConnections': { kind: 'int', env: 'KLIVE_HTTP_MAX_CONNECTIONS' },
  'http.maxConnectionsPerIp': { kind: 'int', env: 'KLIVE_HTTP_MAX_CONNECTIONS_PER_IP' },
  'http.idleTimeoutSeconds': { kind: 'int', env: 'KLIVE_HTTP_IDLE_TIMEOUT_SECONDS' },
  'http.writeTimeoutSeconds': { kind: 'int', env: 'KLIVE_HTTP_WRITE_TIMEOUT_SECONDS' },
  'limitOrigin.headerName': { kind: 'string', env: 'KLIVE_LIMIT_ORIGIN_HEADER_NAME' },
  'limitOrigin.headerValue': { kind: 'string', env: 'KLIVE_LIMIT_ORIGIN_HEADER_VALUE' },
  'recording.enabled': { kind: 'bool', env: 'KLIVE_RECORDING_ENABLED' },
  'recording.directory': { kind: 'string', env: 'KLIVE_RECORDING_DIRECTORY' },
  'recording.fileGroup': { kind: 'string', env: 'KLIVE_RECORDING_FILE_GROUP' },
  'recording.segmentDurationSeconds': { kind: 'int', env: 'KLIVE_RECORDING_SEGMENT_DURATION_SECONDS' },
  'recording.sharedDirectory': { kind: 'string', env: 'KLIVE_RECORDING_SHARED_DIRECTORY' },
  'recording.stateDirectory': { kind: 'string', env: 'KLIVE_RECORDING_STATE_DIRECTORY' },
  'recording.retryForSeconds': { kind: 'int', env: 'KLIVE_RECORDING_RETRY_FOR_SECONDS' },
  'recording.uploadChunkBytes': { kind: 'int', env: 'KLIVE_RECORDING_UPLOAD_CHUNK_BYTES' },
  'recording.retainDeliveredSeconds': { kind: 'int', env: 'KLIVE_RECORDING_RETAIN_DELIVERED_SECONDS' },
  'recording.diskBudgetBytes': { kind: 'int', env: 'KLIVE_RECORDING_DISK_BUDGET_BYTES' },
  'recording.syncPointIntervalSeconds': { kind: 'int', env: 'KLIVE_RECORDING_SYNC_POINT_INTERVAL_SECONDS' },
  'recording.republishGraceSeconds': { kind: 'int', env: 'KLIVE_RECORDING_REPUBLISH_GRACE_SECONDS' },
  'hls.directory': { kind: 'string', env: 'KLIVE_HLS_DIRECTORY' },
  'hls.memoryBudgetBytes': { kind: 'int', env: 'KLIVE_HLS_MEMORY_BUDGET_BYTES' },
  'hls.diskBudgetBytes': { kind: 'int', env: 'KLIVE_HLS_DISK_BUDGET_BYTES' },
  maxPtsDriftMs: { kind: 'int', env: 'KLIVE_MAX_PTS_DRIFT_MS' },
  // No environment variable: DESIGN.md makes KLIVE_FFMPEG the fallback *after* this key.
  ffmpegPath: { kind: 'string' },
  'log.level': { kind: 'string', env: 'KLIVE_LOG_LEVEL' },
  'log.format': { kind: 'string', env: 'KLIVE_LOG_FORMAT' },
  'auth.decisionTimeoutMs': { kind: 'int', env: 'KLIVE_AUTH_DECISION_TIMEOUT_MS' },
  'auth.staleAdmitSeconds': { kind: 'int', env: 'KLIVE_AUTH_STALE_ADMIT_SECONDS' },
  'auth.attemptsPerIpPerMinute': { kind: 'int', env: 'KLIVE_AUTH_ATTEMPTS_PER_IP_PER_MINUTE' },
  'auth.attemptsPerMinute': { kind: 'int', env: 'KLIVE_AUTH_ATTEMPTS_PER_MINUTE' },
  'admin.host': { kind: 'string', env: 'KLIVE_ADMIN_HOST' },
  'admin.port': { kind: 'int', env: 'KLIVE_ADMIN_PORT' },
  'admin.token': { kind: 'string', env: 'KLIVE_ADMIN_TOKEN' },
  'metrics.token': { kind: 'string', env: 'KLIVE_METRICS_TOKEN' },
};

/** The environment variable naming the config file when `--config` is not given. */
export const CONFIG_FILE_ENV = 'KLIVE_CONFIG';

export interface LoadConfigOptions {
  /** JSON config file. */
  file?: string;
  /** Default process.env. Only the KLIVE_* variables of CONFIG_KEYS are read. */
  env?: NodeJS.ProcessEnv;
  /** Command-line overrides, applied last, in order. Values are text, parsed per key. */
  overrides?: ReadonlyArray<{ key: string; value: string; source: string }>;
  /**
   * Dev mode: serviceUrl and adminSecret come from the embedded emulator, so their absence is
   * not an error here.
   */
  dev?: boolean;
}

/** Read, merge and validate. Throws ConfigError. */
export function loadConfig(options: LoadConfigOptions = {}): KliveConfig {
  const origins = new Map<string, string>();
  let tree: Record<string, unknown> = {};
  const fileLabel = options.file;
  if (options.file !== undefined) {
    tree = readConfigFile(options.file);
    for (const path of leafPaths(tree)) origins.set(path, fileLabel as string);
  }
  const env = options.env ?? process.env;
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    if (spec.env === undefined) continue;
    const raw = env[spec.env];
    if (raw === undefined || raw === '') continue;
    setPath(tree, key, parseText(raw, spec.kind));
    origins.set(key, `environment ${spec.env}`);
  }
  for (const o of options.overrides ?? []) {
    const spec = CONFIG_KEYS[o.key];
    if (!spec) throw new ConfigError('CONFIG_INVALID', [`${o.source}: ${o.key}: unknown key (known: ${Object.keys(CONFIG_KEYS).join(', ')})`]);
    setPath(tree, o.key, parseText(o.value, spec.kind));
    origins.set(o.key, o.source);
  }
  if (options.dev && (tree.recording as Record<string, unknown> | undefined)?.segmentDurationSeconds === undefined) {
    // A newcomer should see a recorded segment reach Kaltura within minutes, not 15.
    setPath(tree, 'recording.segmentDurationSeconds', DEV_RECORDING_SEGMENT_SECONDS);
    origins.set('recording.segmentDurationSeconds', '--dev default');
  }
  return validateConfig(tree, { origins, fileLabel, dev: options.dev === true });
}

/** `--dev`'s recording segment length unless one is configured. */
export const DEV_RECORDING_SEGMENT_SECONDS = 60;

/**
 * Validate a config tree (as a file would hold it) and fill in defaults. `origins` maps a
 * dotted key to where its value came from, for error messages.
 */
export function validateConfig(
  tree: unknown,
  opts: { origins?: ReadonlyMap<string, string>; fileLabel?: string; dev?: boolean } = {},
): KliveConfig {
  const result = schema.safeParse(tree);
  const where = (path: string) => opts.origins?.get(path) ?? closestOrigin(path, opts.origins) ?? opts.fileLabel ?? 'config';
  if (!result.success) {
    const problems: string[] = [];
    for (const issue of result.error.issues) {
      const base = issue.path.join('.');
      if (issue.code === z.ZodIssueCode.unrecognized_keys) {
        for (const key of issue.keys) {
          const path = base === '' ? key : `${base}.${key}`;
          problems.push(`${where(path)}: ${path}: unknown key`);
        }
      } else {
        const path = base === '' ? '(root)' : base;
        problems.push(`${where(base)}: ${path}: ${issue.message}`);
      }
    }
    throw new ConfigError('CONFIG_INVALID', problems);
  }
  const c = result.data;
  if (!opts.dev) {
    const missing: string[] = [];
    if (c.kaltura.serviceUrl === undefined) missing.push(missingMessage('kaltura.serviceUrl'));
    if (c.kaltura.adminSecret === undefined) missing.push(missingMessage('kaltura.adminSecret'));
    if (c.rtmps.port !== undefined && (c.rtmps.certFile === undefined || c.rtmps.keyFile === undefined)) {
      missing.push(`${where('rtmps.port')}: rtmps.certFile and rtmps.keyFile: required when rtmps.port is set`);
    }
    if (missing.length > 0) throw new ConfigError('CONFIG_MISSING', missing);
  }
  const recording = recordingDefaults(c.recording, opts.dev === true);
  return {
    ...c,
    hostname: c.hostname ?? fullyQualifiedHostname(),
    recording,
    hls: { ...c.hls, directory: c.hls.directory ?? defaultHlsDirectory(c.rtmp.port, opts.dev === true) },
    ...(opts.dev ? devListeners(c, join(dirname(recording.directory), 'tls')) : {}),
    auth: { ...c.auth, decisionTimeoutMs: c.auth.decisionTimeoutMs ?? c.kaltura.timeoutMs },
  };
}

/**
 * `directory` defaults to `<state root>/recordings` (paths/defaults.ts: /var/lib/klive-server
 * as root, else the XDG state directory; a per-run temporary directory in dev mode); the
 * directories left unset follow it: `<directory>/shared` and `<directory>/.state`.
 */
function recordingDefaults(r: Parsed['recording'], dev: boolean): KliveConfig['recording'] {
  const directory = r.directory ?? join(dev ? devStateRoot() : defaultStateRoot(), 'recordings');
  return {
    ...r,
    directory,
    sharedDirectory: r.sharedDirectory ?? join(directory, 'shared'),
    stateDirectory: r.stateDirectory ?? join(directory, '.state'),
  };
}

/**
 * `--dev` turns SRT and RTMPS on: 9000 and 1936 next to RTMP's 1935, or OS-chosen ports when the
 * RTMP port is (so that test daemons never collide); RTMPS with a self-signed certificate in the
 * dev state directory, made at start when missing (daemon.ts).
 */
function devListeners(c: Parsed, tls: string): Pick<Parsed, 'srt' | 'rtmps'> {
  const ephemeral = c.rtmp.port === 0;
  return {
    srt: { ...c.srt, port: c.srt.port ?? (ephemeral ? 0 : 9000) },
    rtmps: {
      ...c.rtmps,
      port: c.rtmps.port ?? (ephemeral ? 0 : 1936),
      // One file holds the generated key and certificate (written in one rename).
      certFile: c.rtmps.certFile ?? join(tls, 'dev-cert.pem'),
      keyFile: c.rtmps.keyFile ?? join(tls, 'dev-cert.pem'),
    },
  };
}

/**
 * Under the state root, one directory per RTMP port, so that servers on one machine never share
 * one (the store locks it and clears it at start); an OS-chosen port (0) gets one per process and
 * config load.
 */
function defaultHlsDirectory(rtmpPort: number, dev: boolean): string {
  return join(dev ? devStateRoot() : defaultStateRoot(), rtmpPort === 0 ? ephemeralHlsDirectoryName() : `hls-${rtmpPort}`);
}

/** The config with credentials masked: for `--print-config`, diagnostics and logs. */
export function redactConfig(config: KliveConfig): KliveConfig {
  return {
    ...config,
    kaltura: { ...config.kaltura, adminSecret: config.kaltura.adminSecret === undefined ? undefined : '***' },
    limitOrigin: { ...config.limitOrigin, headerValue: config.limitOrigin.headerValue === undefined ? undefined : '***' },
    admin: { ...config.admin, token: config.admin.token === undefined ? undefined : '***' },
    metrics: { ...config.metrics, token: config.metrics.token === undefined ? undefined : '***' },
  };
}

/** Split a `--set` argument. */
export function parseOverride(arg: string, source = `--set ${arg}`): { key: string; value: string; source: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new ConfigError('CONFIG_BAD_OVERRIDE', [`--set ${arg}: expected key=value`]);
  const key = arg.slice(0, eq).trim();
  return { key, value: arg.slice(eq + 1), source: source.replace(/((?:adminSecret|token)=).*/, '$1***') };
}

// ---------------------------------------------------------------------------------------------

/** An absolute http(s) URL: the API root the client appends /api_v3/… to. */
function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

function readConfigFile(file: string): Record<string, unknown> {
  // The path as the user gave it: that is what they will look for.
  const label = file;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('CONFIG_UNREADABLE', [`${file}: cannot read the config file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('CONFIG_NOT_JSON', [`${label}: not valid JSON (${(err as Error).message})`]);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError('CONFIG_INVALID', [`${label}: (root): must be a JSON object`]);
  }
  return value as Record<string, unknown>;
}

function missingMessage(key: 'kaltura.serviceUrl' | 'kaltura.adminSecret'): string {
  const env = CONFIG_KEYS[key].env as string;
  return `${key} is required: set it in the config file (--config FILE) or with ${env}; or run with --dev to use the embedded Kaltura API emulator`;
}

/** Text from the environment or command line to the type the key holds. */
function parseText(raw: string, kind: Kind): unknown {
  const text = raw.trim();
  if (kind === 'string') return raw;
  // Leave unparsable text as a string: the schema then reports "must be a number" with the key.
  if (kind === 'int') return /^-?\d+$/.test(text) ? Number(text) : raw;
  if (kind === 'bool') {
    const lower = text.toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(lower)) return true;
    if (['false', '0', 'no', 'off'].includes(lower)) return false;
    return raw;
  }
  return text !== '' && Number.isFinite(Number(text)) ? Number(text) : raw;
}

function setPath(tree: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

function leafPaths(tree: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(tree)) {
    const path = prefix === '' ? k : `${prefix}.${k}`;
    out.push(path);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...leafPaths(v as Record<string, unknown>, path));
  }
  return out;
}

/** The origin of the nearest key above or below `path` (a whole section set by one source). */
function closestOrigin(path: string, origins: ReadonlyMap<string, string> | undefined): string | undefined {
  if (!origins) return undefined;
  const parts = path.split('.');
  for (let i = parts.length - 1; i > 0; i--) {
    const o = origins.get(parts.slice(0, i).join('.'));
    if (o) return o;
  }
  for (const [k, v] of origins) if (k.startsWith(`${path}.`)) return v;
  return undefined;
}
