// Child-process bookkeeping and /proc sampling for the benchmark harness.
import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import * as net from 'node:net'

/** Every child the harness started that may still be running. */
const children = new Set<ChildProcess>()

/** Spawn a child and remember it so that it is killed however the harness ends. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options)
  children.add(child)
  child.once('exit', () => children.delete(child))
  child.once('error', () => children.delete(child))
  return child
}

/** SIGKILL every child still running (synchronous; safe in an 'exit' handler). */
export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
  children.clear()
}

/** Resolves when the child exits, or with null after `ms`. */
export function waitExit(child: ChildProcess, ms: number): Promise<number | string | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode)
  if (child.signalCode !== null) return Promise.resolve(child.signalCode)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit)
      resolve(null)
    }, ms)
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer)
      resolve(code ?? signal ?? 'unknown')
    }
    child.once('exit', onExit)
  })
}

/** Send `signal`, wait up to `graceMs`, then SIGKILL. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill(signal)
  if ((await waitExit(child, graceMs)) === null) {
    child.kill('SIGKILL')
    await waitExit(child, 2000)
  }
}

/** Split a readable stream into lines and call `onLine` for each. */
export function onLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return
  let buffered = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    buffered += chunk
    let nl = buffered.indexOf('\n')
    while (nl >= 0) {
      const line = buffered.slice(0, nl).trim()
      buffered = buffered.slice(nl + 1)
      if (line.length > 0) onLine(line)
      nl = buffered.indexOf('\n')
    }
    // Bound memory if a child writes a giant line without newline.
    if (buffered.length > 1_000_000) buffered = buffered.slice(-100_000)
  })
}

/** Parse a line as a JSON object; undefined when it is not one. */
export function parseJsonObject(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    const value: unknown = JSON.parse(line)
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
  } catch {
    // not JSON
  }
  return undefined
}

export function num(obj: Record<string, unknown>, key: string): number {
  const v = obj[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : NaN
}

export function str(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key]
  return typeof v === 'string' ? v : undefined
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Reject after `ms` with `what` in the message. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
    promise.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (e: unknown) => {
        clearTimeout(timer)
        reject(e instanceof Error ? e : new Error(String(e)))
      },
    )
  })
}

let clkTck: number | undefined
/** Clock ticks per second (getconf CLK_TCK). */
export function clockTicks(): number {
  if (clkTck === undefined) {
    const out = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()
    const v = Number(out)
    clkTck = Number.isFinite(v) && v > 0 ? v : 100
  }
  return clkTck
}

/** utime+stime of a process in milliseconds (all its threads), from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // comm (field 2) may contain spaces: split after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return ((utime + stime) * 1000) / clockTicks()
}

export interface Memory {
  /** Resident set size now, KiB. */
  rssKiB: number
  /** Peak resident set size (VmHWM), KiB. */
  hwmKiB: number
}

/** VmRSS and VmHWM from /proc/<pid>/status. */
export function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(status)
    return m ? Number(m[1]) : NaN
  }
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') }
}

/** A TCP port that was free a moment ago (bind port 0, read it, close). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const addr = server.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))))
    })
  })
}

/** Resolves once a TCP connection to host:port succeeds (polling), rejects after `ms`. */
export async function waitForPort(host: string, port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port })
      const done = (v: boolean): void => {
        socket.destroy()
        resolve(v)
      }
      socket.once('connect', () => done(true))
      socket.once('error', () => done(false))
      socket.setTimeout(500, () => done(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${ms} ms`)
    await sleep(100)
  }
}

/** Parent pid, command name and state (R, S, Z, …) of a process, or undefined when it is gone. */
export function procInfo(pid: number): { ppid: number; comm: string; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const open = stat.indexOf('(')
    const close = stat.lastIndexOf(')')
    const fields = stat.slice(close + 2).split(' ')
    return { ppid: Number(fields[1]), comm: stat.slice(open + 1, close), state: fields[0] }
  } catch {
    return undefined
  }
}

/** Every live descendant of `pid` (children, grandchildren, …), from /proc. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const info = procInfo(Number(entry))
    if (info) parentOf.set(Number(entry), info.ppid)
  }
  const out: number[] = []
  const wanted = new Set([pid])
  let grew = true
  while (grew) {
    grew = false
    for (const [p, pp] of parentOf) {
      if (wanted.has(pp) && !wanted.has(p)) {
        wanted.add(p)
        out.push(p)
        grew = true
      }
    }
  }
  return out
}

/** CPU-ms of `pid` and each live descendant, by pid (processes that vanish are skipped). */
export function treeCpuMs(pid: number): Map<number, number> {
  const out = new Map<number, number>()
  for (const p of [pid, ...descendants(pid)]) {
    try {
      out.set(p, cpuMs(p))
    } catch {
      // exited meanwhile
    }
  }
  return out
}

/** Proportional set size (shared pages split between their users), KiB; NaN when unknown. */
export function pssKiB(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
    const m = /^Pss:\s+(\d+)\s+kB/m.exec(text)
    return m ? Number(m[1]) : NaN
  } catch {
    return NaN
  }
}

/** MemAvailable / MemTotal of the host, from /proc/meminfo (NaN when unknown). */
export function hostMemoryAvailable(): { fraction: number; availableKiB: number } {
  try {
    const text = readFileSync('/proc/meminfo', 'utf8')
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(text)?.[1] ?? NaN)
    const total = field('MemTotal')
    const available = field('MemAvailable')
    return { fraction: available / total, availableKiB: available }
  } catch {
    return { fraction: NaN, availableKiB: NaN }
  }
}
