// Recording benchmark (issue #6): what MP4 recording adds to klive-server's cost, klive
// against itself (nginx-rtmp's `record` writes FLV and node-media-server has no recorder,
// so neither is an equivalent to compare with). Same load as the other suites
// (crates/loadgen replaying the clip as N real-time publishers).
//
// Run through bench/run.ts: `npm run bench -- --suite record` (this suite only) or
// `npm run bench` (all suites, this one last).
//
// Four scenarios per N, each in a fresh klive-target process:
//   pass     passthrough only (no HLS, no recording)
//   rec      every accepted publish recorded (`startRecording` right after `decide(accept)`)
//   hls      every publish packaged to HLS (as in the HLS suite)
//   hls+rec  both: what production runs for a recorded entry
// Recordings go to a fresh directory on tmpfs (/dev/shm by default), so disk speed plays no
// part; the recorder's production defaults apply (900 s segments, a fragment every 2 s, each
// appended with one write(2) from tokio's blocking pool).
//
// Measured: CPU of the server process per stream-second over the window (utime+stime from
// /proc/PID/stat, as in the other suites), the overhead of recording (rec vs pass, hls+rec vs
// hls) against the 10 % target, its marginal CPU per recorded rendition-second, and bytes
// written per byte received (Σ recordings().bytes against Σ bytesIn of the publishing
// connections and Σ media bytes of the streams, both deltas over the window). Scenarios run
// --record-rounds times, interleaved (pass, rec, hls, hls+rec; then the reverse pair order),
// so that drift of a shared box spreads over both sides of each comparison.
//
// Validation (recording scenarios, end of the window, load still running): recordings()
// lists every stream, live, without error; every stream's directory holds a
// `<start>.mp4.part` (or `.mp4`) that grew during the window; then recording of the first
// stream is stopped and its finished `.mp4` (reported by a `recordingSegment` event with
// `last: true`) goes through ffprobe, and so does the open `.mp4.part` of the second.
import { ffprobeSummary, fmt } from './lib/report'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import * as path from 'node:path'
import { keptUp, startLoadgen, type LoadgenSummary } from './lib/loadgen'
import { cpuMs, hostMemoryAvailable, memory, sleep, withTimeout, type Memory } from './lib/proc'
import { startServer, type ServerHandle, type ServerTuning } from './lib/servers'

export interface RecordBenchOptions {
  streams: number[]
  /** Measured window, s (a multiple of the 2 s fragment interval keeps byte deltas unbiased). */
  seconds: number
  warmup: number
  rampMs: number
  /** Times each scenario runs (interleaved). */
  rounds: number
  /** HLS target duration of the hls scenarios, ms. */
  hlsTargetMs: number
  /** Parent directory (tmpfs) of the recordings. */
  fileRoot: string
  kliveReadPacingMs?: number
}

export interface RecordBenchContext {
  root: string
  clip: string
  loadgenBin: string
  workDir: string
  log(line: string): void
}

export type RecordMode = 'pass' | 'rec' | 'hls' | 'hls+rec'
const MODES: readonly RecordMode[] = ['pass', 'rec', 'hls', 'hls+rec']
const MODE_LABELS: Record<RecordMode, string> = {
  pass: '(a) passthrough',
  rec: '(b) recording',
  hls: '(c) HLS',
  'hls+rec': '(d) HLS + recording',
}
const records = (m: RecordMode): boolean => m === 'rec' || m === 'hls+rec'
const packages = (m: RecordMode): boolean => m === 'hls' || m === 'hls+rec'
/** Recording may add at most this share to the cost of the same stream without it. */
const TARGET_OVERHEAD = 0.1
/** Same guard as the HLS suite (env BENCH_MIN_MEM_AVAILABLE). */
const MIN_HOST_MEMORY_AVAILABLE = Number(process.env['BENCH_MIN_MEM_AVAILABLE'] ?? 0.15)
/** How long the finished segment of a stopped recording may take to be reported, ms. */
const STOP_REPORT_MS = 10_000

interface RecordRun {
  mode: RecordMode
  streams: number
  round: number
  error?: string
  published: number
  keptUp: boolean
  behind: number
  held: boolean
  windowS: number
  idleCpuPct: number
  serverCpuPct: number
  cpuMsPerStreamS: number
  idle: Memory
  end: Memory
  peakDeltaPerStreamKiB: number
  loadgenCpuPct: number
  /** Window deltas, bytes: wire bytes of the publishing connections, media bytes of the streams, recordings().bytes. */
  bytesIn: number
  mediaBytes: number
  recBytes: number
  recordings: number
  recordingsLive: number
  recordingErrors: string[]
  /** Streams whose directory holds a segment file that grew during the window. */
  growing: number
  /** Σ file sizes in the recording directory at the end of the window. */
  fileBytes: number
  segmentEvents: number
  probeFinished: string
  probePart: string
  /** s0's finished segment (its whole recording) over the bytes its connection / stream received by the stop. */
  wholeFileOverIn: number
  wholeFileOverMedia: number
  notes: string[]
}


const mean = (xs: number[]): number => {
  const v = xs.filter(Number.isFinite)
  return v.length === 0 ? NaN : v.reduce((a, b) => a + b, 0) / v.length
}

/** Σ size of the segment files (`.mp4.part`, `.mp4`) of each stream directory under `dir`, by stream. */
function segmentSizes(dir: string): Map<string, number> {
  const out = new Map<string, number>()
  let streams: string[]
  try {
    streams = readdirSync(dir)
  } catch {
    return out
  }
  for (const s of streams) {
    let total = 0
    let files = 0
    try {
      for (const f of readdirSync(path.join(dir, s))) {
        if (!f.endsWith('.mp4.part') && !f.endsWith('.mp4')) continue
        try {
          total += statSync(path.join(dir, s, f)).size
          files++
        } catch {
          // renamed meanwhile (.part → .mp4)
        }
      }
    } catch {
      continue
    }
    if (files > 0) out.set(s, total)
  }
  return out
}


interface RecReply {
  recordings: Array<{ name: string; live: boolean; bytes: number; segments: number; error?: string }>
  segmentEvents: number
  segments: Array<{ streamName: string; path: string; durationMs: number; bytes: number; last: boolean }>
  errors: string[]
  bytesIn: number
  mediaBytes: number
  publishers: number
}

async function recQuery(server: ServerHandle): Promise<RecReply> {
  if (!server.query) throw new Error('klive-target has no query channel')
  return (await server.query('rec', 10_000)) as unknown as RecReply
}

class RecordBench {
  private version = ''

  constructor(
    private readonly ctx: RecordBenchContext,
    private readonly opts: RecordBenchOptions,
  ) {}

  private async run(mode: RecordMode, streams: number, round: number): Promise<RecordRun> {
    const o = this.opts
    const windowS = o.seconds
    const r: RecordRun = {
      mode, streams, round, published: 0, keptUp: false, behind: 0, held: false, windowS, idleCpuPct: NaN, serverCpuPct: NaN,
      cpuMsPerStreamS: NaN, idle: { rssKiB: NaN, hwmKiB: NaN }, end: { rssKiB: NaN, hwmKiB: NaN }, peakDeltaPerStreamKiB: NaN,
      loadgenCpuPct: NaN, bytesIn: NaN, mediaBytes: NaN, recBytes: NaN, recordings: 0, recordingsLive: 0, recordingErrors: [],
      growing: 0, fileBytes: NaN, segmentEvents: 0, probeFinished: '', probePart: '', wholeFileOverIn: NaN, wholeFileOverMedia: NaN,
      notes: [],
    }
    const dir = path.join(o.fileRoot, `${mode.replace('+', '-')}-${streams}-${round}`)
    const tuning: ServerTuning = {}
    if (o.kliveReadPacingMs !== undefined) tuning.kliveReadPacingMs = o.kliveReadPacingMs
    if (packages(mode)) tuning.hls = { targetDurationMs: o.hlsTargetMs, dir: path.join(dir, 'hls-unused') }
    if (records(mode)) tuning.recordDir = dir
    let server: ServerHandle | undefined
    let aborted: string | undefined
    let guard: NodeJS.Timeout | undefined
    try {
      server = await startServer('klive', this.ctx.root, this.ctx.workDir, tuning)
      this.version = server.version
      const pid = server.pid
      const victims: Array<{ kill(signal: NodeJS.Signals): boolean }> = [server.child]
      guard = setInterval(() => {
        const mem = hostMemoryAvailable()
        if (aborted === undefined && mem.fraction < MIN_HOST_MEMORY_AVAILABLE) {
          aborted = `aborted: host MemAvailable down to ${(mem.availableKiB / 2 ** 20).toFixed(1)} GiB (${(mem.fraction * 100).toFixed(0)} %)`
          this.ctx.log(`  ${aborted}; killing the server and the load generator`)
          for (const v of victims) v.kill('SIGKILL')
        }
      }, 250)
      await sleep(500)
      const i0 = cpuMs(pid)
      const it0 = performance.now()
      await sleep(2000)
      r.idleCpuPct = ((cpuMs(pid) - i0) / (performance.now() - it0)) * 100
      r.idle = memory(pid)
      const rampBudgetS = (streams * o.rampMs) / 1000 + 15
      const lg = startLoadgen(this.ctx.loadgenBin, {
        url: server.url,
        streams,
        file: this.ctx.clip,
        durationS: Math.ceil(rampBudgetS + o.warmup + windowS + 60),
        fast: false,
        loop: true,
        rampMs: o.rampMs,
        namePrefix: 's',
      })
      victims.push(lg.child)
      let summary: LoadgenSummary | undefined
      try {
        const ramp = await withTimeout(lg.ramped, rampBudgetS * 1000 + 5000, 'publishers to start')
        if (!ramp) throw new Error(`klive-loadgen exited during setup: ${lg.logs.slice(0, 3).join('; ')}`)
        if (ramp.published < streams) r.notes.push(`${streams - ramp.published} publishers failed to start`)
        await sleep(o.warmup * 1000)
        // Byte counters and file sizes are read just outside the CPU window.
        const q0 = await recQuery(server)
        const files0 = records(mode) ? segmentSizes(dir) : new Map<string, number>()
        const s0 = cpuMs(pid)
        const l0 = cpuMs(lg.pid)
        const t0 = performance.now()
        await sleep(windowS * 1000)
        if (aborted) throw new Error(aborted)
        if (!server.alive()) throw new Error(`server died during the window\n${server.stderrTail()}`)
        const s1 = cpuMs(pid)
        const l1 = cpuMs(lg.pid)
        const wallMs = performance.now() - t0
        r.end = memory(pid)
        const q1 = await recQuery(server)
        const files1 = records(mode) ? segmentSizes(dir) : new Map<string, number>()
        r.serverCpuPct = ((s1 - s0) / wallMs) * 100
        r.cpuMsPerStreamS = (s1 - s0) / (streams * (wallMs / 1000))
        r.loadgenCpuPct = ((l1 - l0) / wallMs) * 100
        r.peakDeltaPerStreamKiB = (r.end.hwmKiB - r.idle.rssKiB) / streams
        r.bytesIn = q1.bytesIn - q0.bytesIn
        r.mediaBytes = q1.mediaBytes - q0.mediaBytes
        const recSum = (q: RecReply): number => q.recordings.reduce((a, x) => a + x.bytes, 0)
        r.recBytes = recSum(q1) - recSum(q0)
        if (q1.publishers !== streams) r.notes.push(`${q1.publishers} streams live at the end of the window`)
        if (records(mode)) {
          this.ctx.log(`  window done (CPU ${fmt(r.serverCpuPct, 1)} %); validating ${streams} recordings…`)
          this.validate(q1, files0, files1, streams, r)
          await this.probe(server, dir, r)
        }
        if (aborted) throw new Error(aborted)
      } finally {
        summary = await lg.stop()
      }
      if (!summary) throw new Error('klive-loadgen printed no summary')
      r.published = summary.published
      r.behind = summary.behind
      const verdict = keptUp(summary, streams, lg.logs)
      r.keptUp = verdict.keptUp
      r.notes.push(...verdict.notes)
      r.held =
        r.keptUp &&
        (!records(mode) ||
          (r.recordings === streams &&
            r.recordingsLive === streams &&
            r.recordingErrors.length === 0 &&
            r.growing === streams &&
            !r.probeFinished.startsWith('ffprobe failed') &&
            !r.probeFinished.startsWith('no ') &&
            !r.probePart.startsWith('ffprobe failed')))
    } catch (err) {
      r.error = aborted ?? (err as Error).message
    } finally {
      if (guard) clearInterval(guard)
      if (server) await server.stop()
      rmSync(dir, { recursive: true, force: true })
    }
    return r
  }

  private validate(q: RecReply, files0: Map<string, number>, files1: Map<string, number>, streams: number, r: RecordRun): void {
    const names = Array.from({ length: streams }, (_, i) => `s${i}`)
    const byName = new Map(q.recordings.map((x) => [x.name, x]))
    r.recordings = names.filter((n) => byName.has(n)).length
    r.recordingsLive = names.filter((n) => byName.get(n)?.live === true).length
    r.recordingErrors = [...q.errors, ...q.recordings.filter((x) => x.error).map((x) => `${x.name}: ${x.error}`)]
    r.segmentEvents = q.segmentEvents
    r.growing = names.filter((n) => (files1.get(n) ?? 0) > (files0.get(n) ?? 0)).length
    r.fileBytes = [...files1.values()].reduce((a, b) => a + b, 0)
    const notGrowing = names.filter((n) => !((files1.get(n) ?? 0) > (files0.get(n) ?? 0)))
    if (notGrowing.length > 0) r.notes.push(`${notGrowing.length} streams without a growing segment file (e.g. ${notGrowing.slice(0, 3).join(', ')})`)
    if (r.recordingErrors.length > 0) r.notes.push(`recording errors: ${r.recordingErrors.slice(0, 3).join('; ')}`)
  }

  /** Stop recording s0 and ffprobe its finished segment; ffprobe the open part of s1. */
  private async probe(server: ServerHandle, dir: string, r: RecordRun): Promise<void> {
    try {
      const parts = readdirSync(path.join(dir, 's1')).filter((f) => f.endsWith('.mp4.part'))
      r.probePart = parts.length > 0 ? ffprobeSummary(path.join(dir, 's1', parts[0]), true) : 'no .mp4.part for s1'
    } catch (err) {
      r.probePart = `ffprobe failed: ${(err as Error).message}`
    }
    try {
      const stopped = await server.query!('rec-stop s0', 10_000)
      if (stopped['ok'] !== true) throw new Error('stopRecording(s0) returned false')
      const deadline = Date.now() + STOP_REPORT_MS
      for (;;) {
        const q = await recQuery(server)
        const done = q.segments.find((s) => s.streamName === 's0' && s.last)
        if (done) {
          r.wholeFileOverIn = done.bytes / Number(stopped['bytesIn'])
          r.wholeFileOverMedia = done.bytes / Number(stopped['mediaBytes'])
          r.probeFinished = `${ffprobeSummary(done.path, true)} (${(done.bytes / 1e6).toFixed(1)} MB, reported ${(done.durationMs / 1000).toFixed(1)} s)`
          break
        }
        if (Date.now() > deadline) throw new Error(`no last recordingSegment for s0 within ${STOP_REPORT_MS} ms`)
        await sleep(250)
      }
    } catch (err) {
      r.probeFinished = `ffprobe failed: ${(err as Error).message}`
    }
  }

  async runAll(): Promise<{ report: string; failures: number }> {
    const { log } = this.ctx
    const o = this.opts
    const runs: RecordRun[] = []
    for (const n of o.streams) {
      for (let round = 1; round <= o.rounds; round++) {
        // Every other round reverses each pair, so that a drifting background load weighs on both sides alike.
        const order: RecordMode[] = round % 2 === 1 ? [...MODES] : ['rec', 'pass', 'hls+rec', 'hls']
        for (const mode of order) {
          log(`record N=${n} ${MODE_LABELS[mode]} round ${round}/${o.rounds} (${o.seconds} s window)…`)
          const r = await this.run(mode, n, round)
          runs.push(r)
          log(
            r.error
              ? `  error: ${r.error}`
              : `  CPU ${fmt(r.serverCpuPct, 1)} % (${fmt(r.cpuMsPerStreamS, 3)} ms/stream-s), held: ${r.held}` +
                  (records(mode) ? `, written/received ${fmt(r.recBytes / r.bytesIn, 3)}, growing ${r.growing}/${n}, finished: ${r.probeFinished}` : ''),
          )
        }
      }
    }
    const failures = runs.filter((r) => r.error || !r.held).length
    return { report: this.report(runs), failures }
  }

  private report(runs: RecordRun[]): string {
    const o = this.opts
    const md: string[] = []
    md.push('## Recording overhead (passthrough, no transcoding; klive-server against itself)')
    md.push('')
    md.push(
      `Scenarios: ${MODES.map((m) => `**${MODE_LABELS[m]}**`).join(', ')}. Recording = \`server.startRecording(name, { dir })\` right after \`decide(accept)\` for every publish, production defaults (900 s segments, a fragment every 2 s); files on tmpfs under \`${o.fileRoot}\` (/dev/shm), so disk speed plays no part. HLS = \`startHls(name, { targetDurationMs: ${o.hlsTargetMs} })\`, segments in memory.`,
    )
    md.push(
      `Each scenario: fresh server process, ${o.seconds} s window after ${o.warmup} s warm-up, ${o.rounds} round${o.rounds === 1 ? '' : 's'} (interleaved; the second reverses each pair). CPU-ms per stream-s is the mean over the rounds (each round's value in brackets).`,
    )
    md.push('')
    md.push('| N | scenario | held | server CPU (% of 1 core) | CPU-ms per stream-s | peak RSS Δ per stream (KiB) | ingest (MB/s, server bytesIn) | loadgen CPU % |')
    md.push('|---:|---|:---:|---:|---:|---:|---:|---:|')
    const cell = (n: number, m: RecordMode): RecordRun[] => runs.filter((r) => r.streams === n && r.mode === m && !r.error)
    const cpu = (n: number, m: RecordMode): number => mean(cell(n, m).map((r) => r.cpuMsPerStreamS))
    for (const n of o.streams) {
      for (const m of MODES) {
        const rs = cell(n, m)
        const errs = runs.filter((r) => r.streams === n && r.mode === m && r.error)
        if (rs.length === 0) {
          md.push(`| ${n} | ${MODE_LABELS[m]} | error: ${(errs[0]?.error ?? '?').split('\n')[0].replace(/\|/g, '/')} | | | | | |`)
          continue
        }
        const each = rs.length > 1 ? ` [${rs.map((r) => fmt(r.cpuMsPerStreamS, 3)).join(', ')}]` : ''
        md.push(
          `| ${n} | ${MODE_LABELS[m]} | ${rs.every((r) => r.held) && errs.length === 0 ? 'yes' : '**NO**'} | ${fmt(mean(rs.map((r) => r.serverCpuPct)), 1)} | ${fmt(cpu(n, m), 3)}${each} | ${fmt(mean(rs.map((r) => r.peakDeltaPerStreamKiB)), 0)} | ${fmt(mean(rs.map((r) => r.bytesIn / 1e6 / r.windowS)), 2)} | ${fmt(mean(rs.map((r) => r.loadgenCpuPct)), 0)} |`,
        )
      }
    }
    md.push('')
    md.push(`### Overhead of recording (target: < ${TARGET_OVERHEAD * 100} % over the same streams without recording)`)
    md.push('')
    md.push(
      '"Marginal CPU-ms per recorded rendition-s" = (CPU-ms per stream-s with recording − without) — every stream is one passthrough rendition, recorded for every second of the window. The ratios include the Node process\'s fixed idle cost (≈ 5 CPU-ms/s, see the RTMP section) in the denominator.',
    )
    md.push('')
    md.push('| N | comparison | without (CPU-ms per stream-s) | with | overhead | marginal CPU-ms per recorded rendition-s | per-round overhead | target met |')
    md.push('|---:|---|---:|---:|---:|---:|---|:---:|')
    const pairs: Array<[RecordMode, RecordMode]> = [['pass', 'rec'], ['hls', 'hls+rec']]
    for (const n of o.streams) {
      for (const [a, b] of pairs) {
        const ca = cpu(n, a)
        const cb = cpu(n, b)
        const over = cb / ca - 1
        const perRound: string[] = []
        for (let round = 1; round <= o.rounds; round++) {
          const ra = cell(n, a).find((r) => r.round === round)
          const rb = cell(n, b).find((r) => r.round === round)
          if (ra && rb) perRound.push(`${fmt((rb.cpuMsPerStreamS / ra.cpuMsPerStreamS - 1) * 100, 1)} %`)
        }
        md.push(
          `| ${n} | ${MODE_LABELS[b]} vs ${MODE_LABELS[a]} | ${fmt(ca, 3)} | ${fmt(cb, 3)} | **${fmt(over * 100, 1)} %** | ${fmt(cb - ca, 3)} | ${perRound.join(', ')} | ${Number.isFinite(over) ? (over < TARGET_OVERHEAD ? 'yes' : '**NO**') : '–'} |`,
        )
      }
    }
    md.push('')
    md.push('### Bytes and validation (recording scenarios, end of each window, load still running)')
    md.push('')
    md.push(
      `"Written / received" = Σ \`recordings().bytes\` over Σ \`bytesIn\` of the publishing connections (RTMP wire bytes; "per media byte": over Σ the streams' media bytes), both as deltas over the window, read through the target's stdin just outside the CPU window (the window is a multiple of the 2 s fragment interval, so each stream's fragment writes count alike). "Growing" = streams whose directory holds a \`.mp4.part\`/\`.mp4\` that grew during the window. Finished file: recording of s0 is stopped after the window and its \`.mp4\` (from the \`recordingSegment\` event with \`last: true\`) probed; open part: s1's \`.mp4.part\` probed while still written. "s0 whole file / received" = that finished file's size over the bytes s0's connection (stream) had received when its recording was stopped: the same ratio over s0's whole life, without the window's fragment granularity.`,
    )
    md.push('')
    md.push('| N | scenario | round | written / received | written per media byte | s0 whole file / received (per media byte) | written (MB/s) | growing | recordings() live / errors | ffprobe finished .mp4 (s0) | ffprobe open .mp4.part (s1) |')
    md.push('|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|')
    for (const r of runs) {
      if (r.error || !records(r.mode)) continue
      md.push(
        `| ${r.streams} | ${MODE_LABELS[r.mode]} | ${r.round} | ${fmt(r.recBytes / r.bytesIn, 4)} | ${fmt(r.recBytes / r.mediaBytes, 4)} | ${fmt(r.wholeFileOverIn, 4)} (${fmt(r.wholeFileOverMedia, 4)}) | ${fmt(r.recBytes / 1e6 / r.windowS, 2)} | ${r.growing}/${r.streams} | ${r.recordingsLive}/${r.streams} live, ${r.recordingErrors.length} errors | ${r.probeFinished.replace(/\|/g, '/')} | ${r.probePart.replace(/\|/g, '/')} |`,
      )
    }
    const notes = runs.filter((r) => r.notes.length > 0 && !r.error)
    if (notes.length > 0) {
      md.push('')
      for (const r of notes) md.push(`- N=${r.streams} ${MODE_LABELS[r.mode]} round ${r.round}: ${r.notes.join('; ')}`)
    }
    const errors = runs.filter((r) => r.error)
    if (errors.length > 0) {
      md.push('')
      for (const r of errors) md.push(`- N=${r.streams} ${MODE_LABELS[r.mode]} round ${r.round} error: ${r.error}`)
    }
    md.push('')
    return md.join('\n')
  }

  get serverVersion(): string {
    return this.version
  }
}

/** Upper bound of the suite's wall time, s (for the harness watchdog). */
export function recordBudgetS(o: RecordBenchOptions): number {
  let s = 0
  for (const n of o.streams) s += o.rounds * MODES.length * (10 + (n * o.rampMs) / 1000 + 15 + o.warmup + o.seconds + 40)
  return s
}

let activeFileRoot: string | undefined

/** Remove the suite's tmpfs directory (synchronous; for signal handlers). */
export function cleanupRecord(): void {
  if (activeFileRoot) rmSync(activeFileRoot, { recursive: true, force: true })
  activeFileRoot = undefined
}

export async function runRecordBench(ctx: RecordBenchContext, opts: RecordBenchOptions): Promise<{ report: string; failures: number; version: string }> {
  mkdirSync(path.dirname(opts.fileRoot), { recursive: true })
  const fileRoot = mkdtempSync(opts.fileRoot)
  activeFileRoot = fileRoot
  try {
    const bench = new RecordBench(ctx, { ...opts, fileRoot })
    const { report, failures } = await bench.runAll()
    return { report, failures, version: bench.serverVersion }
  } finally {
    cleanupRecord()
  }
}
