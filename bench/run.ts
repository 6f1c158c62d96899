// Benchmarks of klive-server vs nginx-rtmp vs node-media-server under the same load
// (crates/loadgen replaying one FLV clip as N publishers): RTMP ingest, HLS packaging
// (bench/hls.ts), and klive's recording overhead (bench/record.ts, klive only).
// `npm run bench` runs all three suites; `--suite rtmp|hls|record` (or `--hls`) selects.
//
//   npm run bench -- [--suite rtmp,hls,record | --hls] [--servers klive,nginx,nms] [--quick]
//                    [--warmup 2] [--ramp-ms 20] [--loadgen PATH] [--klive-read-pacing-ms MS]
//     RTMP:  [--streams 1,10,100] [--seconds 20] [--max] [--max-cap 1600] [--no-fast]
//     HLS:   [--hls-streams 1,10,100,200|none] [--hls-seconds 18] [--hls-latency-runs 3]
//            [--hls-target-ms 6000] [--hls-dir /dev/shm/klive-bench-hls-] [--hls-max] [--hls-max-cap 400]
//     Record: [--record-streams 50,100|none] [--record-seconds 12] [--record-rounds 2]
//             [--record-dir /dev/shm/klive-bench-rec-]   (HLS scenarios use --hls-target-ms)
//
// Prints markdown reports and writes them to bench/out/latest.md (RTMP),
// bench/out/hls-latest.md (HLS) and bench/out/record-latest.md (recording).
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseArgs } from 'node:util'
import { cleanupHls, hlsBudgetS, runHlsBench, type HlsBenchOptions } from './hls'
import { cleanupRecord, recordBudgetS, runRecordBench, type RecordBenchOptions } from './record'
import { fmt } from './lib/report'
import { buildLoadgen, keptUp, startLoadgen, type LoadgenSummary } from './lib/loadgen'
import { cpuMs, killAllChildren, memory, sleep, withTimeout, type Memory } from './lib/proc'
import { SERVER_LABELS, SERVER_NAMES, startServer, unavailable, type ServerHandle, type ServerName, type ServerTuning } from './lib/servers'

const ROOT = path.resolve(__dirname, '..')
const OUT_DIR = path.join(ROOT, 'bench', 'out')
const CLIP = path.join(OUT_DIR, 'clip.flv')
const FIXTURE_ARGS = [
  '-hide_banner', '-loglevel', 'error', '-y',
  '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
  '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
  '-t', '20',
  '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '3000k', '-maxrate', '3000k', '-bufsize', '6000k', '-g', '60',
  '-c:a', 'aac', '-b:a', '128k',
  '-f', 'flv',
]
/** A server "holds" a load when its CPU stays below this share of one core. */
const CPU_LIMIT_PCT = 90

interface Options {
  rtmp: boolean
  hls?: Omit<HlsBenchOptions, 'kliveReadPacingMs'>
  record?: Omit<RecordBenchOptions, 'kliveReadPacingMs'>
  servers: ServerName[]
  streams: number[]
  seconds: number
  warmup: number
  rampMs: number
  fast: boolean
  max: boolean
  maxCap: number
  loadgen?: string
  kliveReadPacingMs?: number
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      servers: { type: 'string' },
      streams: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'ramp-ms': { type: 'string' },
      quick: { type: 'boolean' },
      max: { type: 'boolean' },
      'max-cap': { type: 'string' },
      'no-fast': { type: 'boolean' },
      loadgen: { type: 'string' },
      'klive-read-pacing-ms': { type: 'string' },
      suite: { type: 'string' },
      hls: { type: 'boolean' },
      'hls-streams': { type: 'string' },
      'hls-seconds': { type: 'string' },
      'hls-latency-runs': { type: 'string' },
      'hls-target-ms': { type: 'string' },
      'hls-dir': { type: 'string' },
      'hls-max': { type: 'boolean' },
      'hls-max-cap': { type: 'string' },
      'record-streams': { type: 'string' },
      'record-seconds': { type: 'string' },
      'record-rounds': { type: 'string' },
      'record-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(
      'usage: npm run bench -- [--suite rtmp,hls,record | --hls] [--servers klive,nginx,nms] [--quick] [--warmup 2]\n' +
        '                        [--ramp-ms 20] [--loadgen PATH] [--klive-read-pacing-ms MS]\n' +
        '  RTMP ingest:  [--streams 1,10,100] [--seconds 20] [--max] [--max-cap 1600] [--no-fast]\n' +
        '  HLS packaging: [--hls-streams 1,10,100,200|none] [--hls-seconds 18] [--hls-latency-runs 3] [--hls-target-ms 6000]\n' +
        '                 [--hls-dir /dev/shm/klive-bench-hls-] [--hls-max] [--hls-max-cap 400]\n' +
        '  Recording (klive only): [--record-streams 50,100|none] [--record-seconds 12] [--record-rounds 2]\n' +
        '                 [--record-dir /dev/shm/klive-bench-rec-]   (HLS scenarios use --hls-target-ms)\n' +
        'All suites run by default (rtmp, hls, record); --suite selects (--hls = --suite hls).\n',
    )
    process.exit(0)
  }
  const quick = values.quick === true
  const servers = (values.servers ?? SERVER_NAMES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
  for (const s of servers) {
    if (!(SERVER_NAMES as readonly string[]).includes(s)) throw new Error(`unknown server '${s}' (known: ${SERVER_NAMES.join(', ')})`)
  }
  const positive = (name: string, text: string | undefined, dflt: number, max: number): number => {
    if (text === undefined) return dflt
    const v = Number(text)
    if (!Number.isFinite(v) || v <= 0 || v > max) throw new Error(`--${name} must be a number in (0, ${max}]`)
    return v
  }
  const counts = (flag: string, text: string): number[] =>
    text === 'none' ? [] : text.split(',').map((s) => {
      const n = Number(s.trim())
      if (!Number.isInteger(n) || n < 1 || n > 5000) throw new Error(`--${flag}: '${s}' is not an integer in 1..5000`)
      return n
    })
  const streams = counts('streams', values.streams ?? (quick ? '1,10' : '1,10,100'))
  const suites = values.hls === true ? ['hls'] : (values.suite ?? 'rtmp,hls,record').split(',').map((s) => s.trim())
  for (const s of suites) if (s !== 'rtmp' && s !== 'hls' && s !== 'record') throw new Error(`--suite: unknown suite '${s}' (rtmp, hls, record)`)
  const warmup = positive('warmup', values.warmup, quick ? 1 : 2, 60)
  const rampMs = positive('ramp-ms', values['ramp-ms'], 20, 1000)
  const hlsTargetMs = positive('hls-target-ms', values['hls-target-ms'], 6000, 20_000)
  const hls: Options['hls'] = suites.includes('hls')
    ? {
        servers: servers as ServerName[],
        streams: counts('hls-streams', values['hls-streams'] ?? (quick ? '1,10' : '1,10,100,200')),
        seconds: positive('hls-seconds', values['hls-seconds'], quick ? 14 : 18, 600),
        warmup,
        rampMs,
        latencyRuns: (() => {
          const v = Number(values['hls-latency-runs'] ?? (quick ? 1 : 3))
          if (!Number.isInteger(v) || v < 0 || v > 20) throw new Error('--hls-latency-runs must be an integer in 0..20')
          return v
        })(),
        targetMs: hlsTargetMs,
        fileRoot: values['hls-dir'] ?? '/dev/shm/klive-bench-hls-',
        max: values['hls-max'] === true,
        maxCap: positive('hls-max-cap', values['hls-max-cap'], 400, 5000),
      }
    : undefined
  const record: Options['record'] = suites.includes('record')
    ? {
        streams: counts('record-streams', values['record-streams'] ?? (quick ? '10,50' : '50,100')),
        seconds: positive('record-seconds', values['record-seconds'], quick ? 8 : 12, 600),
        warmup,
        rampMs,
        rounds: (() => {
          const v = Number(values['record-rounds'] ?? (quick ? 1 : 2))
          if (!Number.isInteger(v) || v < 1 || v > 10) throw new Error('--record-rounds must be an integer in 1..10')
          return v
        })(),
        hlsTargetMs,
        fileRoot: values['record-dir'] ?? '/dev/shm/klive-bench-rec-',
      }
    : undefined
  return {
    rtmp: suites.includes('rtmp'),
    hls,
    record,
    servers: servers as ServerName[],
    streams,
    seconds: positive('seconds', values.seconds, quick ? 8 : 20, 600),
    warmup,
    rampMs,
    fast: values['no-fast'] !== true,
    max: values.max === true,
    maxCap: positive('max-cap', values['max-cap'], 1600, 5000),
    loadgen: values.loadgen,
    kliveReadPacingMs: (() => {
      const text = values['klive-read-pacing-ms']
      if (text === undefined) return undefined
      const v = Number(text)
      if (!Number.isInteger(v) || v < 0 || v > 1000) throw new Error('--klive-read-pacing-ms must be an integer in 0..1000')
      return v
    })(),
  }
}

// ---------------------------------------------------------------------------------------
// Scenario results

interface RealtimeResult {
  server: ServerName
  streams: number
  error?: string
  published: number
  keptUp: boolean
  held: boolean
  behind: number
  loadErrors: number
  finalLagMs: number
  windowS: number
  idleCpuPct: number
  serverCpuPct: number
  cpuMsPerStreamS: number
  idle: Memory
  end: Memory
  peakDeltaPerStreamKiB: number
  loadgenCpuPct: number
  ingestMBps: number
  notes: string[]
}

interface FastResult {
  server: ServerName
  error?: string
  mbps: number
  serverCpuPct: number
  cpuSPerGB: number
  loadgenCpuPct: number
  peakRssKiB: number
  bytes: number
}

interface MaxResult {
  server: ServerName
  held: number
  failedAt?: number
  trials: string[]
}

let workDir = ''
/** Version label of each server, from its first start. */
const versions = new Map<ServerName, string>()
let tuning: ServerTuning = {}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Run one server under `streams` real-time publishers for `windowS` seconds. */
async function runRealtime(
  name: ServerName,
  loadgenBin: string,
  streams: number,
  windowS: number,
  warmupS: number,
  rampMs: number,
): Promise<RealtimeResult> {
  const result: RealtimeResult = {
    server: name,
    streams,
    published: 0,
    keptUp: false,
    held: false,
    behind: 0,
    loadErrors: 0,
    finalLagMs: NaN,
    windowS,
    idleCpuPct: NaN,
    serverCpuPct: NaN,
    cpuMsPerStreamS: NaN,
    idle: { rssKiB: NaN, hwmKiB: NaN },
    end: { rssKiB: NaN, hwmKiB: NaN },
    peakDeltaPerStreamKiB: NaN,
    loadgenCpuPct: NaN,
    ingestMBps: NaN,
    notes: [],
  }
  let server: ServerHandle | undefined
  try {
    server = await startServer(name, ROOT, workDir, tuning)
    versions.set(name, server.version)
    await sleep(500)
    const i0 = cpuMs(server.pid)
    const it0 = performance.now()
    await sleep(2000)
    result.idleCpuPct = ((cpuMs(server.pid) - i0) / (performance.now() - it0)) * 100
    result.idle = memory(server.pid)
    const rampBudgetS = (streams * rampMs) / 1000 + 15
    const lg = startLoadgen(loadgenBin, {
      url: server.url,
      streams,
      file: CLIP,
      durationS: Math.ceil(rampBudgetS + warmupS + windowS + 20),
      fast: false,
      loop: true,
      rampMs,
      namePrefix: 's',
    })
    try {
      const ramp = await withTimeout(lg.ramped, rampBudgetS * 1000 + 5000, 'publishers to start')
      if (!ramp) throw new Error(`klive-loadgen exited during setup: ${lg.logs.slice(0, 3).join('; ')}`)
      if (ramp.published < streams) result.notes.push(`${streams - ramp.published} publishers failed to start`)
      await sleep(warmupS * 1000)
      const s0 = cpuMs(server.pid)
      const l0 = cpuMs(lg.pid)
      const t0 = performance.now()
      await sleep(windowS * 1000)
      if (!server.alive()) throw new Error(`server died during the window\n${server.stderrTail()}`)
      const s1 = cpuMs(server.pid)
      const l1 = cpuMs(lg.pid)
      const t1 = performance.now()
      result.end = memory(server.pid)
      const wallMs = t1 - t0
      const summary = await lg.stop()
      if (!summary) throw new Error('klive-loadgen printed no summary')
      result.published = summary.published
      result.behind = summary.behind
      result.loadErrors = summary.errors + summary.refused
      result.finalLagMs = summary.finalLagMs
      result.ingestMBps = summary.steadyMbytesPerSec
      result.serverCpuPct = ((s1 - s0) / wallMs) * 100
      result.loadgenCpuPct = ((l1 - l0) / wallMs) * 100
      result.cpuMsPerStreamS = (s1 - s0) / (streams * (wallMs / 1000))
      result.peakDeltaPerStreamKiB = (result.end.hwmKiB - result.idle.rssKiB) / streams
      const verdict = keptUp(summary, streams, lg.logs)
      result.keptUp = verdict.keptUp
      result.held = result.keptUp && result.serverCpuPct < CPU_LIMIT_PCT
      result.notes.push(...verdict.notes)
    } finally {
      await lg.stop()
    }
  } catch (err) {
    result.error = describeError(err)
  } finally {
    if (server) await server.stop()
  }
  return result
}

/** Single publisher, --fast: ingest throughput and CPU per GB. */
async function runFast(name: ServerName, loadgenBin: string, windowS: number): Promise<FastResult> {
  const result: FastResult = { server: name, mbps: NaN, serverCpuPct: NaN, cpuSPerGB: NaN, loadgenCpuPct: NaN, peakRssKiB: NaN, bytes: 0 }
  let server: ServerHandle | undefined
  try {
    server = await startServer(name, ROOT, workDir, tuning)
    versions.set(name, server.version)
    await sleep(500)
    const lg = startLoadgen(loadgenBin, {
      url: server.url,
      streams: 1,
      file: CLIP,
      durationS: Math.ceil(windowS + 30),
      fast: true,
      loop: true,
      rampMs: 0,
      namePrefix: 'fast',
    })
    let summary: LoadgenSummary | undefined
    let s0 = 0
    let s1 = 0
    let l0 = 0
    let l1 = 0
    let wallMs = 0
    try {
      const ramp = await withTimeout(lg.ramped, 20_000, 'publisher to start')
      if (!ramp || ramp.published !== 1) throw new Error(`publisher did not start: ${lg.logs.slice(0, 3).join('; ')}`)
      s0 = cpuMs(server.pid)
      l0 = cpuMs(lg.pid)
      const t0 = performance.now()
      await sleep(windowS * 1000)
      s1 = cpuMs(server.pid)
      l1 = cpuMs(lg.pid)
      wallMs = performance.now() - t0
      result.peakRssKiB = memory(server.pid).hwmKiB
    } finally {
      summary = await lg.stop()
    }
    if (!summary) throw new Error('klive-loadgen printed no summary')
    if (summary.errors > 0) throw new Error(`publisher failed: ${lg.logs.slice(0, 3).join('; ')}`)
    result.bytes = summary.steadyBytes
    result.mbps = summary.steadyMbytesPerSec
    result.serverCpuPct = ((s1 - s0) / wallMs) * 100
    result.loadgenCpuPct = ((l1 - l0) / wallMs) * 100
    result.cpuSPerGB = (s1 - s0) / 1000 / (summary.steadyBytes / 1e9)
  } catch (err) {
    result.error = describeError(err)
  } finally {
    if (server) await server.stop()
  }
  return result
}

/** Largest N (bounded search) where every publisher kept up and server CPU < 90 %. */
async function searchMax(
  name: ServerName,
  loadgenBin: string,
  start: number,
  cap: number,
  windowS: number,
  warmupS: number,
  log: (line: string) => void,
): Promise<MaxResult> {
  const res: MaxResult = { server: name, held: start, trials: [] }
  const maxTrials = 7
  let lo = start
  let hi: number | undefined
  for (let trial = 0; trial < maxTrials; trial++) {
    let n: number
    if (hi === undefined) n = Math.min(cap, Math.max(lo * 2, 50))
    else n = Math.round((lo + hi) / 2)
    if (n <= lo || (hi !== undefined && (n >= hi || hi / lo < 1.15))) break
    // Keep the ramp bounded to ~5 s whatever N is.
    const rampMs = Math.max(1, Math.min(20, Math.floor(5000 / n)))
    const r = await runRealtime(name, loadgenBin, n, windowS, warmupS, rampMs)
    const verdict = r.error
      ? `error: ${r.error.split('\n')[0]}`
      : `${r.held ? 'held' : 'failed'} (CPU ${fmt(r.serverCpuPct, 0)} %, published ${r.published}, behind ${r.behind}, loadgen CPU ${fmt(r.loadgenCpuPct, 0)} %)`
    res.trials.push(`N=${n}: ${verdict}`)
    log(`  max ${SERVER_LABELS[name]} N=${n}: ${verdict}`)
    if (r.held) {
      lo = n
      res.held = n
      if (n >= cap) break
    } else {
      hi = n
      res.failedAt = n
    }
  }
  return res
}

// ---------------------------------------------------------------------------------------
// Report


const mib = (kib: number): string => fmt(kib / 1024, 1)

function ensureFixture(log: (line: string) => void): void {
  if (existsSync(CLIP)) return
  mkdirSync(OUT_DIR, { recursive: true })
  const tmp = path.join(OUT_DIR, `clip.${process.pid}.tmp.flv`)
  log('making the fixture clip bench/out/clip.flv (ffmpeg, ~20 s of 720p30 H.264 + AAC)…')
  const r = spawnSync('ffmpeg', [...FIXTURE_ARGS, tmp], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 })
  if (r.status !== 0) {
    rmSync(tmp, { force: true })
    throw new Error(`ffmpeg failed to make the fixture (${r.status ?? r.signal ?? r.error?.message})`)
  }
  renameSync(tmp, CLIP)
}

function clipDescription(): string {
  let duration = 20
  try {
    const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', CLIP], { encoding: 'utf8' })
    const d = Number(out.trim())
    if (Number.isFinite(d) && d > 0) duration = d
  } catch {
    // ffprobe missing: assume the 20 s fixture
  }
  const bytes = readFileSync(CLIP).length
  const mbit = (bytes * 8) / duration / 1e6
  return `\`bench/out/clip.flv\`: ${duration.toFixed(1)} s of 1280×720p30 H.264 (x264 veryfast, 3000k, GOP 60) + AAC 128k, ${(bytes / 1e6).toFixed(1)} MB = ${mbit.toFixed(2)} Mbit/s`
}

/** Which native addon was measured: its build time and the checkout it sits in (read-only git). */
function addonDescription(): string {
  const addon = path.join(ROOT, 'klive-server.linux-x64-gnu.node')
  let text = 'native addon'
  try {
    text = `native addon \`${path.basename(addon)}\` built ${statSync(addon).mtime.toISOString()}`
  } catch {
    return 'native addon missing'
  }
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'crates', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim()
    text += `, checkout at ${head}${dirty ? ' with uncommitted changes under crates/ or src/' : ''}`
  } catch {
    // not a git checkout
  }
  return text
}

function cpuModel(): string {
  const cpus = os.cpus()
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM`
}

function realtimeTable(rows: RealtimeResult[]): string[] {
  const lines = [
    '| N | server | published | kept up | server CPU (% of 1 core) | CPU-ms per stream-s | idle CPU % | idle RSS (MiB) | peak RSS (MiB) | peak RSS Δ per stream (KiB) | loadgen CPU % | loadgen MB/s |',
    '|---:|---|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of rows) {
    if (r.error) {
      lines.push(`| ${r.streams} | ${SERVER_LABELS[r.server]} | error: ${r.error.split('\n')[0].replace(/\|/g, '/')} | | | | | | | | | |`)
      continue
    }
    lines.push(
      `| ${r.streams} | ${SERVER_LABELS[r.server]} | ${r.published}/${r.streams} | ${r.keptUp ? 'yes' : 'NO'} | ${fmt(r.serverCpuPct, 1)} | ${fmt(r.cpuMsPerStreamS, 2)} | ${fmt(r.idleCpuPct, 1)} | ${mib(r.idle.rssKiB)} | ${mib(r.end.hwmKiB)} | ${fmt(r.peakDeltaPerStreamKiB, 0)} | ${fmt(r.loadgenCpuPct, 0)} | ${fmt(r.ingestMBps, 2)} |`,
    )
  }
  return lines
}

function fastTable(rows: FastResult[]): string[] {
  const lines = [
    '| server | ingest MB/s | server CPU (% of 1 core) | server CPU-s per GB | peak RSS (MiB) | loadgen CPU % |',
    '|---|---:|---:|---:|---:|---:|',
  ]
  for (const r of rows) {
    if (r.error) {
      lines.push(`| ${SERVER_LABELS[r.server]} | error: ${r.error.split('\n')[0].replace(/\|/g, '/')} | | | | |`)
      continue
    }
    lines.push(
      `| ${SERVER_LABELS[r.server]} | ${fmt(r.mbps, 1)} | ${fmt(r.serverCpuPct, 1)} | ${fmt(r.cpuSPerGB, 2)} | ${mib(r.peakRssKiB)} | ${fmt(r.loadgenCpuPct, 0)} |`,
    )
  }
  return lines
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2))
  if (opts.kliveReadPacingMs !== undefined) tuning = { kliveReadPacingMs: opts.kliveReadPacingMs }
  const commandLine = `npx tsx bench/run.ts ${process.argv.slice(2).join(' ')}`.trim()
  const log = (line: string): void => {
    process.stderr.write(line + '\n')
  }
  log(`# ${commandLine}`)

  // Whole-run watchdog: generous bound derived from the plan.
  const perScenarioS = (n: number): number => 8 + (n * opts.rampMs) / 1000 + opts.warmup + opts.seconds + 20
  let budgetS = 15 * 60 + 300 // build + fixture
  if (opts.rtmp) {
    for (const n of opts.streams) budgetS += opts.servers.length * perScenarioS(n)
    if (opts.fast) budgetS += opts.servers.length * perScenarioS(1)
    if (opts.max) budgetS += opts.servers.length * 7 * (8 + 5 + opts.warmup + Math.max(8, opts.seconds / 2) + 20)
  }
  if (opts.hls) budgetS += hlsBudgetS(opts.hls)
  if (opts.record) budgetS += recordBudgetS(opts.record)
  const watchdog = setTimeout(() => {
    log(`bench: overall time bound of ${Math.round(budgetS)} s exceeded; killing everything`)
    killAllChildren()
    cleanupHls()
    cleanupRecord()
    process.exit(3)
  }, budgetS * 1000)
  watchdog.unref()

  workDir = mkdtempSync(path.join(os.tmpdir(), 'klive-bench-'))
  try {
    const servers: ServerName[] = []
    const skipped: string[] = []
    for (const s of opts.servers) {
      const why = unavailable(s, ROOT)
      if (why) skipped.push(`${SERVER_LABELS[s]}: ${why}`)
      else servers.push(s)
    }
    for (const s of skipped) log(`skipping ${s}`)
    if (servers.length === 0) throw new Error('no server can run')

    ensureFixture(log)
    const loadgenBin = opts.loadgen ?? (log('building klive-loadgen (cargo build --release -p klive-loadgen)…'), await buildLoadgen(ROOT))

    let failures = 0
    if (opts.rtmp) {
      const realtime: RealtimeResult[] = []
      for (const n of opts.streams) {
        for (const s of servers) {
          log(`real-time N=${n} ${SERVER_LABELS[s]} (${opts.seconds} s window)…`)
          const r = await runRealtime(s, loadgenBin, n, opts.seconds, opts.warmup, opts.rampMs)
          realtime.push(r)
          log(
            r.error
              ? `  error: ${r.error}`
              : `  CPU ${fmt(r.serverCpuPct, 1)} % (${fmt(r.cpuMsPerStreamS, 2)} ms/stream-s), peak RSS ${mib(r.end.hwmKiB)} MiB, kept up: ${r.keptUp}`,
          )
        }
      }

      const fast: FastResult[] = []
      if (opts.fast) {
        for (const s of servers) {
          log(`single-stream --fast ${SERVER_LABELS[s]} (${opts.seconds} s window)…`)
          const r = await runFast(s, loadgenBin, opts.seconds)
          fast.push(r)
          log(r.error ? `  error: ${r.error}` : `  ${fmt(r.mbps, 1)} MB/s, CPU ${fmt(r.serverCpuPct, 1)} %, ${fmt(r.cpuSPerGB, 2)} CPU-s/GB`)
        }
      }

      const maxResults: MaxResult[] = []
      if (opts.max) {
        for (const s of servers) {
          const held = realtime.filter((r) => r.server === s && r.held).map((r) => r.streams)
          const start = held.length > 0 ? Math.max(...held) : 0
          if (start === 0) {
            maxResults.push({ server: s, held: 0, trials: ['no standard scenario held; search skipped'] })
            continue
          }
          log(`max search ${SERVER_LABELS[s]} from N=${start}…`)
          maxResults.push(await searchMax(s, loadgenBin, start, opts.maxCap, Math.max(8, Math.round(opts.seconds / 2)), opts.warmup, log))
        }
      }

      const md: string[] = []
      md.push('# RTMP ingest benchmark')
      md.push('')
      md.push('```')
      md.push(commandLine)
      md.push('```')
      md.push('')
      md.push(`- Date: ${new Date().toISOString()}`)
      md.push(`- Host: ${cpuModel()}, ${os.type()} ${os.release()}, Node ${process.version}; load generator and servers share the host`)
      md.push(
        `- Servers: ${servers.map((s) => versions.get(s) ?? SERVER_LABELS[s]).join('; ')}` +
          (opts.kliveReadPacingMs === undefined ? '' : ` (klive readPacingMs = ${opts.kliveReadPacingMs})`),
      )
      if (skipped.length > 0) md.push(`- Skipped: ${skipped.join('; ')}`)
      md.push(`- Clip: ${clipDescription()}`)
      md.push(
        `- Load: \`klive-loadgen\` replays the clip in a loop as N publishers (no re-encoding), real time, one socket write per FLV tag, starts ${opts.rampMs} ms apart; ` +
          `measured over a ${opts.seconds} s window after all publishers started + ${opts.warmup} s warm-up. Fresh server process per row.`,
      )
      md.push(
        '- CPU = utime+stime of the server process (/proc/PID/stat) over the window; RSS from /proc/PID/status (idle = VmRSS before load, peak = VmHWM at the end of the window); idle CPU is measured over 2 s before the load; ' +
          '"peak RSS Δ per stream" = (peak − idle) / N. "Kept up" = every publisher published, none errored, none more than 1 s behind schedule at the end.',
      )
      md.push('')
      md.push('## Real-time publishers')
      md.push('')
      md.push(...realtimeTable(realtime))
      const notes = realtime.filter((r) => r.notes.length > 0)
      if (notes.length > 0) {
        md.push('')
        for (const r of notes) md.push(`- N=${r.streams} ${SERVER_LABELS[r.server]}: ${r.notes.join('; ')}`)
      }
      if (fast.length > 0) {
        md.push('')
        md.push(`## Single-stream ingest (\`--fast\`, ${opts.seconds} s window)`)
        md.push('')
        md.push('One publisher sending the looped clip as fast as the socket accepts. MB = 10^6 bytes, GB = 10^9 bytes.')
        if (servers.includes('klive')) {
          md.push('')
          md.push(
            opts.kliveReadPacingMs === undefined
              ? 'klive-server runs with its production default read pacing (publishers are read on a shared 100 ms grid; a socket holding more than 128 KiB, i.e. a sender far faster than real time, is read at once); `--klive-read-pacing-ms 0` measures it unpaced.'
              : `klive-server runs with readPacingMs = ${opts.kliveReadPacingMs}.`,
          )
        }
        md.push('')
        md.push(...fastTable(fast))
      }
      if (maxResults.length > 0) {
        md.push('')
        md.push(`## Largest N held (every publisher kept up and server CPU < ${CPU_LIMIT_PCT} % of one core; at most 7 trials, cap ${opts.maxCap})`)
        md.push('')
        md.push('| server | largest N held | first N that failed | trials |')
        md.push('|---|---:|---:|---|')
        for (const m of maxResults) {
          md.push(`| ${SERVER_LABELS[m.server]} | ${m.held} | ${m.failedAt ?? '–'} | ${m.trials.join('<br>').replace(/\|/g, '/')} |`)
        }
        md.push('')
        md.push('Note: on a small host the load generator itself may be the limit; see its CPU in the trials.')
      }
      md.push('')
      const report = md.join('\n')
      process.stdout.write(report)
      mkdirSync(OUT_DIR, { recursive: true })
      writeFileSync(path.join(OUT_DIR, 'latest.md'), report)
      log(`wrote ${path.relative(ROOT, path.join(OUT_DIR, 'latest.md'))}`)
      failures += realtime.filter((r) => r.error).length + fast.filter((r) => r.error).length
    }

    if (opts.hls) {
      const hls = await runHlsBench(
        { root: ROOT, clip: CLIP, loadgenBin, workDir, log },
        { ...opts.hls, servers, kliveReadPacingMs: opts.kliveReadPacingMs },
      )
      const md: string[] = []
      md.push('# HLS packaging benchmark')
      md.push('')
      md.push('```')
      md.push(commandLine)
      md.push('```')
      md.push('')
      md.push(`- Date: ${new Date().toISOString()}`)
      md.push(`- Host: ${cpuModel()}, ${os.type()} ${os.release()}, Node ${process.version}; load generator and servers share the host`)
      if (skipped.length > 0) md.push(`- Skipped: ${skipped.join('; ')}`)
      if (servers.includes('klive')) md.push(`- klive-server: ${addonDescription()}`)
      md.push(`- Clip: ${clipDescription()}`)
      md.push(
        `- Load: \`klive-loadgen\` replays the clip in a loop as N publishers (no re-encoding), real time, one socket write per FLV tag, starts ${opts.hls.rampMs} ms apart (as in the RTMP benchmark). Fresh server process per row.`,
      )
      md.push(
        '- CPU = utime+stime over the window from /proc/PID/stat of the server process and its descendants; memory from /proc/PID/status (VmRSS, VmHWM) and /proc/PID/smaps_rollup (Pss).',
      )
      md.push('')
      md.push(hls.report)
      const report = md.join('\n')
      process.stdout.write(report)
      mkdirSync(OUT_DIR, { recursive: true })
      writeFileSync(path.join(OUT_DIR, 'hls-latest.md'), report)
      log(`wrote ${path.relative(ROOT, path.join(OUT_DIR, 'hls-latest.md'))}`)
      failures += hls.failures
    }

    if (opts.record && opts.record.streams.length > 0) {
      if (!servers.includes('klive')) {
        log('skipping the recording suite: it measures klive-server only')
      } else {
        const loadBefore = os.loadavg()
        const started = new Date()
        const rec = await runRecordBench(
          { root: ROOT, clip: CLIP, loadgenBin, workDir, log },
          { ...opts.record, kliveReadPacingMs: opts.kliveReadPacingMs },
        )
        const loadAfter = os.loadavg()
        const md: string[] = []
        md.push('# Recording benchmark')
        md.push('')
        md.push('```')
        md.push(commandLine)
        md.push('```')
        md.push('')
        md.push(`- Date: ${started.toISOString()} – ${new Date().toISOString()}`)
        md.push(`- Host: ${cpuModel()}, ${os.type()} ${os.release()}, Node ${process.version}; load generator and server share the host`)
        md.push(
          `- Host load average (1/5/15 min) before the suite: ${loadBefore.map((l) => l.toFixed(2)).join(' / ')}, after: ${loadAfter.map((l) => l.toFixed(2)).join(' / ')}`,
        )
        md.push(`- klive-server: ${rec.version || 'klive-server'}, ${addonDescription()}` + (opts.kliveReadPacingMs === undefined ? '' : ` (readPacingMs = ${opts.kliveReadPacingMs})`))
        md.push(`- Clip: ${clipDescription()}`)
        md.push(
          `- Load: \`klive-loadgen\` replays the clip in a loop as N publishers (no re-encoding), real time, one socket write per FLV tag, starts ${opts.record.rampMs} ms apart (as in the RTMP benchmark). Fresh server process per row and round.`,
        )
        md.push(
          '- CPU = utime+stime of the server process (/proc/PID/stat) over the window; RSS from /proc/PID/status (idle = VmRSS before load, peak = VmHWM at the end of the window). "held" = every publisher kept up (as in the RTMP benchmark) and, with recording, every validation below passed.',
        )
        md.push('')
        md.push(rec.report)
        const report = md.join('\n')
        process.stdout.write(report)
        mkdirSync(OUT_DIR, { recursive: true })
        writeFileSync(path.join(OUT_DIR, 'record-latest.md'), report)
        log(`wrote ${path.relative(ROOT, path.join(OUT_DIR, 'record-latest.md'))}`)
        failures += rec.failures
      }
    }
    return failures > 0 ? 1 : 0
  } finally {
    killAllChildren()
    cleanupHls()
    cleanupRecord()
    rmSync(workDir, { recursive: true, force: true })
  }
}

process.on('exit', killAllChildren)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    killAllChildren()
    cleanupHls()
    cleanupRecord()
    if (workDir) rmSync(workDir, { recursive: true, force: true })
    process.exit(130)
  })
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    killAllChildren()
    process.exit(1)
  },
)
