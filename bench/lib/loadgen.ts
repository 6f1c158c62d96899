// Building and driving crates/loadgen (klive-loadgen).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { onLines, parseJsonObject, num, str, spawnTracked, stopChild, waitExit, withTimeout } from './proc'

/** `cargo build --release -p klive-loadgen`; returns the executable path. */
export async function buildLoadgen(root: string): Promise<string> {
  const child = spawn('cargo', ['build', '--release', '-p', 'klive-loadgen', '--message-format=json-render-diagnostics'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let executable: string | undefined
  const errors: string[] = []
  onLines(child.stdout, (line) => {
    const msg = parseJsonObject(line)
    if (!msg || str(msg, 'reason') !== 'compiler-artifact') return
    const target = msg['target']
    const exe = str(msg, 'executable')
    if (typeof target === 'object' && target !== null && (target as Record<string, unknown>)['name'] === 'klive-loadgen' && exe) {
      executable = exe
    }
  })
  onLines(child.stderr, (line) => {
    errors.push(line)
    if (errors.length > 40) errors.shift()
  })
  const code = await waitExit(child, 15 * 60_000)
  if (code === null) {
    child.kill('SIGKILL')
    throw new Error('cargo build of klive-loadgen timed out')
  }
  if (code !== 0 || !executable || !existsSync(executable)) {
    throw new Error(`cargo build of klive-loadgen failed (${code}):\n${errors.join('\n')}`)
  }
  return executable
}

export interface LoadgenOptions {
  url: string
  streams: number
  file: string
  /** Upper bound of the run in seconds; the harness normally stops it earlier with SIGINT. */
  durationS: number
  fast: boolean
  loop: boolean
  rampMs: number
  namePrefix: string
}

export interface RampInfo {
  seconds: number
  published: number
  refused: number
  errors: number
  bytesSent: number
}

export interface LoadgenSummary {
  streams: number
  connected: number
  published: number
  refused: number
  errors: number
  bytesSent: number
  seconds: number
  mbytesPerSec: number
  rampSeconds: number
  steadyBytes: number
  steadySeconds: number
  steadyMbytesPerSec: number
  behind: number
  finalLagMs: number
  maxLagMs: number
}

/** Wall-clock times (ms since the epoch) of one of the first 16 publishers. */
export interface PublisherTimes {
  index: number
  /** Just before its first byte (the RTMP handshake) was written. */
  firstByteUnixMs: number
  /** When the server confirmed the publish (NetStream.Publish.Start). */
  publishUnixMs: number
}

export interface LoadgenRun {
  child: ChildProcess
  pid: number
  /** Resolves when every publisher settled (undefined when the loadgen exits first). */
  ramped: Promise<RampInfo | undefined>
  /** Resolves with the summary line once the loadgen exits (undefined when it printed none). */
  summary: Promise<LoadgenSummary | undefined>
  /** Log lines from stderr (errors, refusals). */
  logs: string[]
  /** Start times of the first 16 publishers, by index, as they are reported. */
  publishers: Map<number, PublisherTimes>
  /** SIGINT, then wait for the summary (bounded). */
  stop(): Promise<LoadgenSummary | undefined>
}

export function startLoadgen(bin: string, o: LoadgenOptions): LoadgenRun {
  const args = [
    '--url', o.url,
    '--streams', String(o.streams),
    '--file', o.file,
    '--duration', String(o.durationS),
    '--ramp-ms', String(o.rampMs),
    '--name-prefix', o.namePrefix,
  ]
  if (o.fast) args.push('--fast')
  if (o.loop) args.push('--loop')
  const child = spawnTracked(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  if (child.pid === undefined) throw new Error('klive-loadgen did not start')
  const logs: string[] = []
  const publishers = new Map<number, PublisherTimes>()
  let resolveRamp: (r: RampInfo | undefined) => void = () => undefined
  const ramped = new Promise<RampInfo | undefined>((resolve) => (resolveRamp = resolve))
  onLines(child.stderr, (line) => {
    const obj = parseJsonObject(line)
    if (obj && str(obj, 'event') === 'ramped') {
      resolveRamp({
        seconds: num(obj, 'seconds'),
        published: num(obj, 'published'),
        refused: num(obj, 'refused'),
        errors: num(obj, 'errors'),
        bytesSent: num(obj, 'bytes_sent'),
      })
    } else if (obj && str(obj, 'event') === 'published') {
      const index = num(obj, 'index')
      publishers.set(index, { index, firstByteUnixMs: num(obj, 'first_byte_unix_ms'), publishUnixMs: num(obj, 'publish_unix_ms') })
    } else if (logs.length < 50) {
      logs.push(obj ? str(obj, 'message') ?? line : line)
    }
  })
  let summaryLine: Record<string, unknown> | undefined
  onLines(child.stdout, (line) => {
    const obj = parseJsonObject(line)
    if (obj && Number.isFinite(num(obj, 'streams'))) summaryLine = obj
  })
  const summary = new Promise<LoadgenSummary | undefined>((resolve) => {
    child.once('close', () => {
      resolveRamp(undefined)
      if (!summaryLine) return resolve(undefined)
      const s = summaryLine
      resolve({
        streams: num(s, 'streams'),
        connected: num(s, 'connected'),
        published: num(s, 'published'),
        refused: num(s, 'refused'),
        errors: num(s, 'errors'),
        bytesSent: num(s, 'bytes_sent'),
        seconds: num(s, 'seconds'),
        mbytesPerSec: num(s, 'mbytes_per_sec'),
        rampSeconds: num(s, 'ramp_seconds'),
        steadyBytes: num(s, 'steady_bytes'),
        steadySeconds: num(s, 'steady_seconds'),
        steadyMbytesPerSec: num(s, 'steady_mbytes_per_sec'),
        behind: num(s, 'behind'),
        finalLagMs: num(s, 'final_lag_ms'),
        maxLagMs: num(s, 'max_lag_ms'),
      })
    })
  })
  return {
    child,
    pid: child.pid,
    ramped,
    summary,
    logs,
    publishers,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
      try {
        return await withTimeout(summary, 10_000, 'klive-loadgen summary')
      } catch {
        await stopChild(child, 'SIGKILL', 1000)
        return undefined
      }
    },
  }
}

/**
 * Whether every publisher of a scenario kept up, and the notes that say why not: the one
 * verdict every suite applies to klive-loadgen's summary.
 */
export function keptUp(summary: LoadgenSummary, streams: number, logs: string[]): { keptUp: boolean; notes: string[] } {
  const notes: string[] = []
  if (summary.errors > 0) notes.push(`${summary.errors} publisher errors: ${logs.slice(0, 2).join('; ')}`)
  if (summary.behind > 0) notes.push(`${summary.behind} publishers >1 s behind (max ${summary.finalLagMs.toFixed(0)} ms)`)
  return { keptUp: summary.published === streams && summary.behind === 0 && summary.errors === 0 && summary.refused === 0, notes }
}
