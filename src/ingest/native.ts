/**
 * The one place that loads the native addon. Everything else imports its types from here.
 */
import * as binding from '../../index';

export type {
  AudioCodecInfo,
  FileLock,
  ConnectionStatsSnapshot,
  DecisionInput,
  HlsOptionsInput,
  HlsStoreSnapshot,
  HlsStreamSnapshot,
  IngestEvent,
  QueryParam,
  RecordingSnapshot,
  RecordOptionsInput,
  RecoveredSegmentInfo,
  RtmpServer,
  RtmpServerOptions,
  ServerStatsSnapshot,
  SinkTargetInput,
  SrtLinkSnapshot,
  StreamStatsSnapshot,
  VideoCodecInfo,
} from '../../index';

export const { startRtmpServer, nativeVersion, recoverRecordingSegment, recordingSegmentDurationMs, tryLockFile, writeSelfSignedCert } = binding;
