export { RtmpIngest } from './ingest/rtmp-ingest';
export type {
  ConnectEvent,
  Gate,
  IngestEventOf,
  IngestEventType,
  PlayEvent,
  PublishEvent,
  RtmpIngestOptions,
  Verdict,
} from './ingest/rtmp-ingest';
export { IngestError } from './ingest/errors';
export type { IngestErrorCode } from './ingest/errors';
export type * from './ingest/native';

// Daemon, configuration, logging
export { startDaemon, startDevDaemon, startDevBackup, devBanner, devBackupBanner, demoPlayManifestUrl } from './daemon';
export type { DaemonHandle, DaemonKaltura, DaemonOptions, DevDaemonHandle, DevInstructions } from './daemon';
export { loadConfig, validateConfig, redactConfig, parseOverride, ConfigError, CONFIG_KEYS, CONFIG_FILE_ENV } from './config';
export type { ConfigErrorCode, KliveConfig, KliveConfigInput, LoadConfigOptions } from './config';
export { createLogger, silentLogger, sanitize, maskString, LOG_LEVELS } from './log';
export type { LogFields, LogFormat, LogLevel, LogSink, Logger, LoggerOptions } from './log';

// Publisher authentication
export { PublisherAuth, AuthError, authGates, RefusalLog, checkArgs, checkStreamName, argsFromConnect, argsFromQuery } from './kaltura/auth';
export type {
  AdmissionVia,
  AuthDecision,
  AuthErrorCode,
  AuthKalturaApi,
  AuthStats,
  AuthenticatedConnection,
  ConnectRequest,
  PublishArgs,
  PublishRequest,
  PublisherAuthEvents,
  PublisherAuthOptions,
  RefusalRecord,
} from './kaltura/auth';

// Kaltura's last answers (stale admission while Kaltura is unreachable), directories, process guard
export { DecisionStore, DECISIONS_FILE } from './kaltura/decision-store';
export type { DecisionStoreOptions, StoredAnswer } from './kaltura/decision-store';
export { DirectoryLock, PathsError, RuntimeDirectory, defaultStateRoot } from './paths';
export type { PathsErrorCode } from './paths';
export { guardProcess, reportUnexpected } from './process-guard';
