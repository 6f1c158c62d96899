/**
 * Moving a finished segment into the shared directory Kaltura reads, idempotently: a retry or
 * a restart after a crash at any point ends with exactly one complete file at the target and
 * none at the source.
 *
 * rename() when both are on one filesystem; across filesystems (EXDEV) the file is copied to
 * `<target>.part`, fsynced, renamed to the target, and only then the source is unlinked. A
 * target that exists is therefore always complete, so "target exists" means "moved" — unless
 * the source still exists with another size: then the target is some other file of that name,
 * which is never taken for ours (FILE_NAME_TAKEN; the segment stays where it is).
 */
import { copyFile, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RecordingError } from './errors';
import { fsyncDir } from './journal';

export type MoveOutcome = 'moved' | 'already-moved';

export async function moveIntoPlace(source: string, target: string): Promise<MoveOutcome> {
  const sourceExists = await exists(source);
  if (await exists(target)) {
    if (sourceExists) {
      if ((await stat(source)).size !== (await stat(target)).size) {
        throw new RecordingError('FILE_NAME_TAKEN', `cannot move ${source}: ${target} is another file`);
      }
      // A crash after the copy's rename and before the unlink leaves both: finish the move.
      await unlinkQuietly(source);
    }
    return 'already-moved';
  }
  if (!sourceExists) throw new RecordingError('FILE_MISSING', `segment file ${source} is missing and ${target} does not exist`);
  try {
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(source, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyAcross(source, target);
    }
    await fsyncDir(dirname(target));
    await fsyncDir(dirname(source)).catch(() => undefined);
  } catch (err) {
    throw new RecordingError('FILE_MOVE_FAILED', `cannot move ${source} to ${target}: ${(err as Error).message}`, { cause: err });
  }
  return 'moved';
}

async function copyAcross(source: string, target: string): Promise<void> {
  const part = `${target}.part`;
  await copyFile(source, part);
  const fh = await open(part, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(part, target);
  await fsyncDir(dirname(target));
  await unlink(source);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export async function unlinkQuietly(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
