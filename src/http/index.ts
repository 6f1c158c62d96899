/** The control plane: diagnostics, Prometheus metrics and the dashboard (see control-plane.ts). */
export { ControlPlane } from './control-plane';
export type { ControlPlaneOptions } from './control-plane';
export { ErrorLog, ERROR_KINDS } from './error-log';
export type { ErrorDetails, ErrorKind, ErrorRecord, RecordError } from './error-log';
export { ControlPlaneError } from './errors';
export type { ControlPlaneErrorCode } from './errors';
export { NO_LIVE_STATUS, NO_RECORDING } from './sources';
export type { ControlPlaneSources, LiveStatusSource, RecordingEntryStatus, RecordingStatusSource } from './sources';
export type { EntriesReport, EntryDiagnostics, ErrorsReport, InfoReport, InputDiagnostics, RenditionDiagnostics, TranscoderDiagnostics } from './diagnostics';
export { startDaemonControlPlane } from './daemon-wiring';
export type { DaemonControlPlaneInput } from './daemon-wiring';
