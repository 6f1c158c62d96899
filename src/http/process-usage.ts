/**
 * CPU and memory of this process and of the children it supervises (ffmpeg), for
 * `/diagnostics/info`. Children are read from /proc/<pid>/stat and /proc/<pid>/status (Linux);
 * elsewhere their figures are null.
 *
 * CPU % is the share of one core used between two samples (so 150 = one and a half cores);
 * the first sample of a process gives its average since it started.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface ProcessUsage {
  pid: number;
  /** Percent of one core since the previous sample; null when unknown. */
  cpuPercent: number | null;
  /** CPU time used since the process started, seconds. */
  cpuSeconds: number | null;
  /** Resident memory, bytes. */
  rssBytes: number | null;
}

export interface UsageReport {
  self: ProcessUsage;
  children: ProcessUsage[];
  /** Self plus children. */
  total: { cpuPercent: number; rssBytes: number };
  /** Cores of the machine (CPU % can reach cores × 100). */
  cores: number;
}

/** Linux clock ticks per second (USER_HZ); 100 on every mainstream architecture. */
const CLOCK_TICKS = 100;

interface Sample {
  at: number;
  cpuSeconds: number;
}

export class ProcessUsageSampler {
  private readonly previous = new Map<number, Sample>();

  constructor(private readonly now: () => number = () => performance.timeOrigin + performance.now()) {}

  /** Sample this process and `childPids`; forgets pids that are gone. */
  sample(childPids: readonly number[]): UsageReport {
    const now = this.now();
    const cpu = process.cpuUsage();
    const selfCpu = (cpu.user + cpu.system) / 1e6;
    const self: ProcessUsage = {
      pid: process.pid,
      cpuSeconds: round(selfCpu, 3),
      cpuPercent: this.percent(process.pid, now, selfCpu, process.uptime()),
      rssBytes: process.memoryUsage.rss(),
    };
    const children = [...new Set(childPids)].map((pid) => this.child(pid, now));
    const seen = new Set([process.pid, ...childPids]);
    for (const pid of this.previous.keys()) if (!seen.has(pid)) this.previous.delete(pid);
    const all = [self, ...children];
    return {
      self,
      children,
      total: {
        cpuPercent: round(all.reduce((sum, u) => sum + (u.cpuPercent ?? 0), 0), 1),
        rssBytes: all.reduce((sum, u) => sum + (u.rssBytes ?? 0), 0),
      },
      cores: cpus().length,
    };
  }

  private child(pid: number, now: number): ProcessUsage {
    const stat = readProcStat(pid);
    if (!stat) return { pid, cpuPercent: null, cpuSeconds: null, rssBytes: null };
    const lifetime = systemUptime() - stat.startTicks / CLOCK_TICKS;
    return {
      pid,
      cpuSeconds: round(stat.cpuSeconds, 3),
      cpuPercent: this.percent(pid, now, stat.cpuSeconds, lifetime),
      rssBytes: readRssBytes(pid),
    };
  }

  private percent(pid: number, now: number, cpuSeconds: number, lifetimeSeconds: number): number | null {
    const prev = this.previous.get(pid);
    this.previous.set(pid, { at: now, cpuSeconds });
    if (prev && now - prev.at >= 200) return round(((cpuSeconds - prev.cpuSeconds) / ((now - prev.at) / 1000)) * 100, 1);
    return lifetimeSeconds > 0 ? round((cpuSeconds / lifetimeSeconds) * 100, 1) : null;
  }
}

/** utime + stime and the start time of a process, from /proc/<pid>/stat. */
function readProcStat(pid: number): { cpuSeconds: number; startTicks: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime 15, starttime 22.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const start = Number(fields[19]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { cpuSeconds: (utime + stime) / CLOCK_TICKS, startTicks: start };
}

function readRssBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function systemUptime(): number {
  try {
    return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
