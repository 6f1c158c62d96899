/** Publisher authentication against Kaltura: URL rules, the policy, beacons, the ingest adapter. */
export {
  PublisherAuth,
  MEDIA_SERVER_PARTNER,
  DEFAULT_BLOCK_MS,
  DEFAULT_REAUTH_INTERVAL_MS,
  DEFAULT_STALE_ADMIT_MS,
  AUTH_ANSWERS,
  admissionMemoryMs,
  ipOf,
} from './policy';
export type {
  AdmissionVia,
  AuthDecision,
  PublisherAuthEvents,
  AuthKalturaApi,
  AuthStats,
  AuthenticatedConnection,
  ConnectRequest,
  PublishRequest,
  PublisherAuthOptions,
} from './policy';
export { AuthError } from './errors';
export type { AuthErrorCode } from './errors';
export { authGates } from './gates';
export type { AuthGates } from './gates';
export { RefusalLog } from './refusal-log';
export { AttemptBudget, clientNetwork } from './attempt-budget';
export type { AttemptBudgetOptions, BudgetCheck } from './attempt-budget';
export type { RefusalCounts, RefusalRecord } from './refusal-log';
export { alertCodeOf, alertJson, healthBeacon, ALERT_SEVERITY, ENTRY_BEACON } from './beacon';
export type { AlertData } from './beacon';
export {
  ARGUMENT_ORDER,
  argsFromConnect,
  argsFromQuery,
  checkArgs,
  checkStreamName,
  hasAnyArgument,
  maskUrl,
  maskedQuery,
} from './publish-args';
export { ENTRY_ID_RE, parseStreamName } from '../stream-name';
export type { StreamName } from '../stream-name';
export type { ArgsCheck, ArgsProblem, ArgumentName, PublishArgs, RawPublishArgs, StreamNameCheck } from './publish-args';
