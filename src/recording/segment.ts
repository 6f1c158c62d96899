/**
 * Stream names and file layout of recordings: a rendition is `<entryId>_<flavorParamsId>`
 * and the recorder writes its segments into `<recording dir>/<entryId>/<streamName>/`.
 */
import { join } from 'node:path';
import { RecordingError } from './errors';

const STREAM_NAME = /^([01]_[0-9a-z]{8})_(\d+)$/;

export interface RenditionName {
  entryId: string;
  flavorParamsId: number;
}

/** Throws RecordingError BAD_STREAM_NAME. */
export function parseRecordedStreamName(streamName: string): RenditionName {
  const m = STREAM_NAME.exec(streamName);
  if (!m) throw new RecordingError('BAD_STREAM_NAME', `recorded stream name "${streamName}" is not <entryId>_<flavorParamsId>`);
  return { entryId: m[1], flavorParamsId: Number(m[2]) };
}

/** The directory the recorder is told to write a rendition's segments into. */
export function renditionDirectory(recordingDirectory: string, streamName: string): string {
  const { entryId } = parseRecordedStreamName(streamName);
  return join(recordingDirectory, entryId, streamName);
}
