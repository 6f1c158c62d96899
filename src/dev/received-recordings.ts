/**
 * What liveStream.appendRecording received, kept per entry + live asset in arrival order: the
 * content (a copy of the file at localFilePath, or the upload token's bytes), its sha256 and
 * the call's duration / isLastChunk. With a storage directory the content is written to
 * `<storageDir>/<entryId>/<assetId>/<n>.mp4` (n from 1) instead of being held in memory.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ReceivedRecordingChunk {
  /** 1-based position within the entry + asset. */
  n: number;
  time: number;
  entryId: string;
  assetId: string;
  mediaServerIndex: number;
  /** Seconds, as sent. */
  duration: number;
  isLastChunk: boolean;
  resourceType: 'KalturaServerFileResource' | 'KalturaUploadedFileTokenResource';
  /** KalturaServerFileResource: the path Kaltura was given. */
  localFilePath?: string;
  /** KalturaUploadedFileTokenResource: the token. */
  uploadTokenId?: string;
  size: number;
  sha256: string;
  /** The content, when no storage directory is set. */
  data?: Buffer;
  /** Where the content was written, when a storage directory is set. */
  storedPath?: string;
}

export class ReceivedRecordings {
  private readonly byAsset = new Map<string, ReceivedRecordingChunk[]>();

  constructor(private readonly storageDir?: string) {}

  add(chunk: Omit<ReceivedRecordingChunk, 'n' | 'size' | 'sha256' | 'data' | 'storedPath'>, content: Buffer): ReceivedRecordingChunk {
    const key = keyOf(chunk.entryId, chunk.assetId);
    const list = this.byAsset.get(key) ?? [];
    const n = list.length + 1;
    const record: ReceivedRecordingChunk = { ...chunk, n, size: content.length, sha256: createHash('sha256').update(content).digest('hex') };
    if (this.storageDir) {
      const dir = join(this.storageDir, chunk.entryId, chunk.assetId);
      mkdirSync(dir, { recursive: true });
      record.storedPath = join(dir, `${n}.mp4`);
      writeFileSync(record.storedPath, content);
    } else {
      record.data = Buffer.from(content);
    }
    list.push(record);
    this.byAsset.set(key, list);
    return record;
  }

  of(entryId: string, assetId: string): ReceivedRecordingChunk[] {
    return (this.byAsset.get(keyOf(entryId, assetId)) ?? []).map((c) => ({ ...c }));
  }
}

function keyOf(entryId: string, assetId: string): string {
  return `${entryId}/${assetId}`;
}
