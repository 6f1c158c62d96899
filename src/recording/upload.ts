/**
 * eCDN delivery of a segment: uploadToken.add + chunked uploadToken.upload, resumable across
 * restarts. The token id is persisted right after add, and the confirmed offset after every
 * chunk. A resumed upload first asks Kaltura (uploadToken.get) how much it holds, so a chunk
 * that landed just before a crash is not counted twice and one that did not land is resent:
 * every chunk after the first is sent with resume=1 and resumeAt = the size Kaltura holds.
 * A token Kaltura no longer knows (expired, deleted) or no longer accepts starts a new one.
 *
 * Window: a crash between uploadToken.add answering and the token id reaching the journal
 * leaves an unused token at Kaltura (it expires there); the restart creates another.
 */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { KalturaApi } from '../kaltura/api';
import { isKalturaApiError } from '../kaltura/errors';
import { RecordingError } from './errors';
import type { DeliveryItem } from './types';

export type UploadApi = Pick<KalturaApi, 'uploadTokenAdd' | 'uploadTokenUpload' | 'uploadTokenGet'>;

/** KalturaUploadTokenStatus values that still take chunks, and FULL_UPLOAD. */
const PENDING = 0;
const PARTIAL = 1;
const FULL = 2;

export interface UploadContext {
  api: UploadApi;
  chunkBytes: number;
  /** Per chunk request. */
  timeoutMs: number;
  /** Persist the item (awaited: the journal write is fsynced). */
  persist: (item: DeliveryItem) => Promise<void>;
  /** Throws when the queue is stopping; checked between chunks. */
  checkpoint: () => void;
}

/** Uploads the item's file (or finishes a started upload) and resolves with the token id. */
export async function uploadSegment(item: DeliveryItem, ctx: UploadContext): Promise<string> {
  const fileSize = await sizeOf(item.path);
  if (fileSize === 0) throw new RecordingError('FILE_MISSING', `segment file ${item.path} is empty`);
  const impersonate = item.partnerId;

  let offset = 0;
  if (item.upload && item.upload.fileSize === fileSize) {
    const resumed = await resumePoint(ctx.api, item.upload.tokenId, fileSize, impersonate);
    if (resumed !== undefined) offset = resumed;
    else item.upload = undefined;
  } else {
    item.upload = undefined;
  }
  if (!item.upload) {
    const token = await ctx.api.uploadTokenAdd(impersonate, { fileName: basename(item.path), fileSize });
    item.upload = { tokenId: token.id, offset: 0, fileSize };
    await ctx.persist(item);
  } else if (item.upload.offset !== offset) {
    item.upload.offset = offset;
    await ctx.persist(item);
  }
  const upload = item.upload;

  while (upload.offset < fileSize) {
    ctx.checkpoint();
    const start = upload.offset;
    const end = Math.min(fileSize, start + ctx.chunkBytes);
    const first = start === 0;
    const final = end === fileSize;
    const answer = await ctx.api.uploadTokenUpload(
      upload.tokenId,
      { path: item.path, start, end, fileName: basename(item.path) },
      { resume: !first, finalChunk: final, resumeAt: first ? -1 : start },
      impersonate,
      { timeoutMs: ctx.timeoutMs },
    );
    const confirmed = typeof answer.uploadedFileSize === 'number' ? answer.uploadedFileSize : end;
    upload.offset = Math.min(fileSize, Math.max(confirmed, 0));
    await ctx.persist(item);
    if (upload.offset < end) {
      // Kaltura holds less than it was sent: ask again on the next attempt.
      throw new RecordingError('UPLOAD_INCOMPLETE', `upload token ${upload.tokenId} holds ${upload.offset} bytes after a chunk ending at ${end}`);
    }
  }
  return upload.tokenId;
}

/**
 * Where to continue an upload on `tokenId`: Kaltura's uploadedFileSize, or undefined when the
 * token must be replaced (gone, closed, or holding a different file).
 */
async function resumePoint(api: UploadApi, tokenId: string, fileSize: number, impersonate?: number): Promise<number | undefined> {
  try {
    const token = await api.uploadTokenGet(tokenId, impersonate);
    const status = Number(token.status);
    const size = Number(token.uploadedFileSize ?? 0);
    if (status === FULL && size === fileSize) return fileSize;
    if ((status === PENDING || status === PARTIAL) && size <= fileSize) return size;
    return undefined;
  } catch (err) {
    if (isKalturaApiError(err, 'UPLOAD_TOKEN_NOT_FOUND') || isKalturaApiError(err, 'INVALID_OBJECT_ID')) return undefined;
    throw err;
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RecordingError('FILE_MISSING', `segment file ${path} is missing`);
    throw err;
  }
}
