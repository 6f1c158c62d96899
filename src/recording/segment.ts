/**
 * Stream names and file layout of recordings: a rendition is `<entryId>_<flavorParamsId>`
 * and the recorder writes its segments into `<recording dir>/<entryId>/<streamName>/`.
 */
import { join } from 'node:path';
import { parseStreamName } from '../kaltura/stream-name';
import { RecordingError } from './errors';

export interface RenditionName {
  entryId: string;
  flavorParamsId: number;
}

/** Throws RecordingError BAD_STREAM_NAME. */
export function parseRecordedStreamName(streamName: string): RenditionName {
  const name = parseStreamName(streamName);
  if (!name) throw new RecordingError('BAD_STREAM_NAME', `recorded stream name "${streamName}" is not <entryId>_<flavorParamsId>`);
  return { entryId: name.entryId, flavorParamsId: name.suffix };
}

/** The directory the recorder is told to write a rendition's segments into. */
export function renditionDirectory(recordingDirectory: string, streamName: string): string {
  const { entryId } = parseRecordedStreamName(streamName);
  return join(recordingDirectory, entryId, streamName);
}
