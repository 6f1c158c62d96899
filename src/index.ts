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
