/**
 * uploadToken.add / get / upload (kaltura/server api_v3/services/UploadTokenService.php and
 * alpha/apps/kaltura/lib/kUploadTokenMgr.php), bytes kept in memory.
 *
 * upload(resume=false) replaces the content; resume=true needs an earlier chunk
 * (UPLOAD_TOKEN_CANNOT_RESUME) and appends at the end (resumeAt -1) or writes at resumeAt;
 * a chunk beyond the current end waits until the gap is filled. A final chunk with
 * resumeAt > 0 must leave the file at exactly resumeAt + chunk size
 * (UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE); Kaltura polls up to 45 s for missing chunks,
 * the emulator checks at once. Status: final → FULL_UPLOAD (2), else PARTIAL_UPLOAD (1);
 * only PENDING (0) and PARTIAL tokens accept uploads.
 */
import { fieldInt, fieldStr } from '../args';
import { apiError } from '../errors';
import { uploadTokenObject } from '../objects';
import { nowSeconds, type UploadTokenRecord } from '../state';
import { visibleTo, type ActionContext, type ActionSpec } from './context';

function findToken(ctx: ActionContext, id: string): UploadTokenRecord {
  const token = ctx.state.uploadTokens.get(id);
  if (!token || !visibleTo(ctx, token.partnerId)) throw apiError('UPLOAD_TOKEN_NOT_FOUND');
  return token;
}

const add: ActionSpec = {
  service: 'uploadToken',
  action: 'add',
  ks: 'required',
  params: [{ name: 'uploadToken', type: 'object', optional: true }],
  handler(ctx, args) {
    const given = args.obj('uploadToken') ?? {};
    const now = nowSeconds();
    const token: UploadTokenRecord = {
      id: ctx.state.newUploadTokenId(),
      partnerId: ctx.partnerId ?? 0,
      userId: ctx.session?.user ?? '',
      status: 0,
      fileName: fieldStr(given, 'fileName') ?? '',
      fileSize: fieldInt(given, 'fileSize') ?? null,
      createdAt: now,
      updatedAt: now,
      data: null,
      pending: new Map(),
    };
    ctx.state.uploadTokens.set(token.id, token);
    return uploadTokenObject(token);
  },
};

const get: ActionSpec = {
  service: 'uploadToken',
  action: 'get',
  ks: 'required',
  params: [{ name: 'uploadTokenId', type: 'string' }],
  handler: (ctx, args) => uploadTokenObject(findToken(ctx, args.str('uploadTokenId'))),
};

const upload: ActionSpec = {
  service: 'uploadToken',
  action: 'upload',
  ks: 'required',
  params: [
    { name: 'uploadTokenId', type: 'string' },
    { name: 'fileData', type: 'file' },
    { name: 'resume', type: 'bool', optional: true, default: false },
    { name: 'finalChunk', type: 'bool', optional: true, default: true },
    { name: 'resumeAt', type: 'float', optional: true, default: -1 },
  ],
  handler(ctx, args) {
    const token = findToken(ctx, args.str('uploadTokenId'));
    if (token.status !== 0 && token.status !== 1) throw apiError('UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD');
    const chunk = args.file('fileData')?.data ?? Buffer.alloc(0);
    if (chunk.length === 0) return uploadTokenObject(token);
    const finalChunk = args.bool('finalChunk');
    const resumeAt = Math.trunc(args.float('resumeAt'));
    if (!args.bool('resume')) {
      token.data = Buffer.from(chunk);
      token.pending.clear();
    } else {
      if (token.data === null) throw apiError('UPLOAD_TOKEN_CANNOT_RESUME');
      if (resumeAt === -1) {
        token.data = Buffer.concat([token.data, chunk]);
      } else if (finalChunk && resumeAt > 0) {
        token.pending.set(resumeAt, Buffer.from(chunk));
        mergePending(token);
        if (token.data.length !== resumeAt + chunk.length) throw apiError('UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE');
      } else {
        token.pending.set(resumeAt, Buffer.from(chunk));
        mergePending(token);
      }
    }
    token.status = finalChunk ? 2 : 1;
    token.updatedAt = nowSeconds();
    return uploadTokenObject(token);
  },
};

/** Writes every waiting chunk that starts within the data (overwriting what it overlaps). */
function mergePending(token: UploadTokenRecord): void {
  let merged = true;
  while (merged && token.data) {
    merged = false;
    for (const [offset, chunk] of [...token.pending].sort((a, b) => a[0] - b[0])) {
      const data: Buffer = token.data;
      if (offset > data.length) continue;
      token.pending.delete(offset);
      const tail = data.subarray(Math.min(data.length, offset + chunk.length));
      token.data = Buffer.concat([data.subarray(0, offset), chunk, tail]);
      merged = true;
    }
  }
}

export const uploadTokenActions: ActionSpec[] = [add, get, upload];
