/**
 * `recording.fileGroup`: recorded files and their directories belong to this group and are
 * group-readable, so Kaltura's batch (which runs as its own user in the `kaltura` group on a
 * stock install) can read segments handed over by path (KalturaServerFileResource). The Wowza
 * module ran under that group for the same reason; Kaltura itself chgrps the segments it
 * moves (KalturaLiveEntryService::appendRecording, `content_group`).
 *
 * The group is resolved once: a number is a gid; a name is looked up with `getent group`
 * (NSS: /etc/group, LDAP …), else in /etc/group. A group that does not exist, or that the
 * daemon may not give files to (EPERM: not root and not a member), is logged once and files
 * keep the daemon's group: recording never stops over it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, stat } from 'node:fs/promises';
import { silentLogger, type Logger } from '../log';

/** Group read (files), group read + search (directories). */
const GROUP_FILE_BITS = 0o040;
const GROUP_DIR_BITS = 0o050;

/** The gid of group `name` (a name or a number), undefined when there is no such group. */
export function groupId(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  const parse = (line: string): number | undefined => {
    const [group, , gid] = line.trim().split(':');
    return group === name && gid !== undefined && /^\d+$/.test(gid) ? Number(gid) : undefined;
  };
  try {
    const found = parse(execFileSync('getent', ['group', name], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] }));
    if (found !== undefined) return found;
  } catch {
    // No getent, or no such group: /etc/group decides.
  }
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const gid = parse(line);
      if (gid !== undefined) return gid;
    }
  } catch {
    // No /etc/group: no such group.
  }
  return undefined;
}

export class FileGroup {
  private readonly gid: number | undefined;
  private warned = false;

  constructor(
    private readonly name: string,
    private readonly log: Logger = silentLogger,
  ) {
    this.gid = groupId(name);
    if (this.gid === undefined) this.warnOnce(`group "${name}" does not exist`);
  }

  /** Give `path` (a file, or a directory with `directory`) to the group, group-readable. Never throws. */
  async apply(path: string, kind: 'file' | 'directory' = 'file'): Promise<void> {
    if (this.gid === undefined) return;
    try {
      await chown(path, -1, this.gid);
      const { mode } = await stat(path);
      const bits = kind === 'directory' ? GROUP_DIR_BITS : GROUP_FILE_BITS;
      if ((mode & bits) !== bits) await chmod(path, (mode & 0o7777) | bits);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A file that is already gone (delivered, moved) is not a group problem.
      if (code !== 'ENOENT') this.warnOnce(`cannot give ${path} to group "${this.name}": ${(error as Error).message}`);
    }
  }

  private warnOnce(reason: string): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn(`recording.fileGroup not applied: ${reason}; recorded files keep the daemon's group`, { fileGroup: this.name });
  }
}
