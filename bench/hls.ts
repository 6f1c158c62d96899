// HLS packaging benchmark (issue #4): klive-server's in-process packager vs nginx-rtmp's
// `hls on` vs node-media-server (+ the ffmpeg it needs for HLS), under the same load as the
// RTMP benchmark (crates/loadgen replaying the clip as N real-time publishers).
//
// Run through bench/run.ts: `npm run bench -- --hls` (HLS only) or `npm run bench` (all).
//
// Measured per server:
//  * publish-to-first-playable-segment latency of one stream: from the publisher's first
//    byte (klive-loadgen reports the wall-clock time just before it writes the handshake) to
//    the first poll (every 100 ms, over HTTP) of the media playlist that lists a segment, that
//    segment then being fetched with 200 and MPEG-TS bytes; median of --hls-latency-runs runs,
//    fresh server per run;
//  * under N real-time publishers (every one packaged): CPU of the server process tree
//    (node-media-server: itself + its ffmpeg children) per stream-second, memory, HLS bytes
//    held (RAM for klive, tmpfs files for the others), and validation: every playlist is
//    fetched at the end of the window, must list ≥ 2 segments and keep up with the publisher
//    (packaged media time within target + 4 s of the time the stream has been published), and
//    a random segment of up to 20 random streams is fetched (200, MPEG-TS, content type);
//    one of them goes through ffprobe.
import { ffprobeSummary, fmt } from './lib/report'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { keptUp, startLoadgen, type LoadgenSummary } from './lib/loadgen'
import { cpuMs, descendants, hostMemoryAvailable, memory, procInfo, pssKiB, sleep, treeCpuMs, withTimeout } from './lib/proc'
import { SERVER_LABELS, startServer, type ServerHandle, type ServerName, type ServerTuning } from './lib/servers'

export interface HlsBenchOptions {
  servers: ServerName[]
  streams: number[]
  /** Measured window, s. */
  seconds: number
  warmup: number
  rampMs: number
  latencyRuns: number
  targetMs: number
  /** Parent directory (tmpfs) for the segment files of nginx and node-media-server. */
  fileRoot: string
  max: boolean
  maxCap: number
  kliveReadPacingMs?: number
}

export interface HlsBenchContext {
  root: string
  clip: string
  loadgenBin: string
  workDir: string
  log(line: string): void
}

const HOST_LABELS: Record<ServerName, string> = {
  klive: SERVER_LABELS.klive,
  nginx: SERVER_LABELS.nginx,
  nms: 'node-media-server + ffmpeg',
}
/** Packaged media may trail the publisher by one open segment plus this, s. */
const LAG_SLACK_S = 4
const POLL_MS = 100
/**
 * The box is shared: a scenario is aborted (server and load generator SIGKILLed) when the
 * host's MemAvailable falls below this share of its RAM (env BENCH_MIN_MEM_AVAILABLE).
 */
const MIN_HOST_MEMORY_AVAILABLE = Number(process.env['BENCH_MIN_MEM_AVAILABLE'] ?? 0.15)
/** Upper bound of the end-of-window validation (HTTP checks) of one scenario, ms. */
const VALIDATION_BUDGET_MS = 60_000

// ---------------------------------------------------------------------------------------
// HTTP + playlists

interface MediaPlaylist {
  mediaSequence: number
  segments: Array<{ uri: string; duration: number }>
}

function parsePlaylist(text: string): MediaPlaylist | undefined {
  if (!text.startsWith('#EXTM3U')) return undefined
  const lines = text.split(/\r?\n/)
  let mediaSequence = 0
  const segments: MediaPlaylist['segments'] = []
  let pending: number | undefined
  for (const raw of lines) {
    const line = raw.trim()
    if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) mediaSequence = Number(line.slice(22))
    else if (line.startsWith('#EXTINF:')) pending = Number.parseFloat(line.slice(8))
    else if (line.length > 0 && !line.startsWith('#') && pending !== undefined) {
      segments.push({ uri: line, duration: pending })
      pending = undefined
    }
  }
  return { mediaSequence, segments }
}

async function fetchText(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { 'cache-control': 'no-cache' } })
  return { status: res.status, text: await res.text() }
}

interface SegmentCheck {
  url: string
  status: number
  contentType: string
  bytes: number
  mpegts: boolean
  body?: Buffer
}

async function fetchSegment(url: string): Promise<SegmentCheck> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  const body = Buffer.from(await res.arrayBuffer())
  return {
    url,
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    bytes: body.length,
    mpegts: body.length >= 188 && body.length % 188 === 0 && body[0] === 0x47 && body[188] === 0x47,
    body,
  }
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (;;) {
      const i = next++
      if (i >= items.length) return
      out[i] = await fn(items[i], i)
    }
  })
  await Promise.all(workers)
  return out
}

function dirBytes(dir: string): { bytes: number; files: number } {
  let bytes = 0
  let files = 0
  const walk = (d: string): void => {
    let entries: string[]
    try {
      entries = readdirSync(d)
    } catch {
      return
    }
    for (const e of entries) {
      const p = path.join(d, e)
      try {
        const st = statSync(p)
        if (st.isDirectory()) walk(p)
        else {
          bytes += st.blocks * 512
          files++
        }
      } catch {
        // removed meanwhile (segment rotation)
      }
    }
  }
  walk(dir)
  return { bytes, files }
}


// ---------------------------------------------------------------------------------------
// Process-tree sampling (node-media-server's ffmpeg children count as its cost)

interface TreeMemory {
  rssKiB: number
  /** Σ VmHWM over the tree. */
  hwmKiB: number
  pssKiB: number
  processes: number
}

function treeMemory(pid: number): TreeMemory {
  const m: TreeMemory = { rssKiB: 0, hwmKiB: 0, pssKiB: 0, processes: 0 }
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const mem = memory(p)
      m.rssKiB += mem.rssKiB
      m.hwmKiB += mem.hwmKiB
      m.pssKiB += pssKiB(p)
      m.processes++
    } catch {
      // exited meanwhile
    }
  }
  return m
}

function cpuDelta(before: Map<number, number>, after: Map<number, number>, only?: (pid: number) => boolean): number {
  let total = 0
  for (const [pid, ms] of after) {
    if (only && !only(pid)) continue
    total += ms - (before.get(pid) ?? 0)
  }
  return total
}

/**
 * SIGKILL descendants (ffmpeg) still running 1 s after their server stopped; only pids we
 * saw under it (zombies and processes already exiting are left alone).
 */
async function reapLeftovers(pids: Set<number>): Promise<number> {
  const running = (pid: number): boolean => {
    const info = procInfo(pid)
    return info !== undefined && info.comm === 'ffmpeg' && info.state !== 'Z' && info.state !== 'X'
  }
  if (![...pids].some(running)) return 0
  await sleep(1000)
  let killed = 0
  for (const pid of pids) {
    if (!running(pid)) continue
    try {
      process.kill(pid, 'SIGKILL')
      killed++
    } catch {
      // gone
    }
  }
  return killed
}

// ---------------------------------------------------------------------------------------
// Scenarios

interface LatencyRun {
  ms: number
  fromPublishMs: number
  firstSegmentS: number
  error?: string
}

interface LatencyResult {
  server: ServerName
  runs: LatencyRun[]
  medianMs: number
  medianFromPublishMs: number
}

interface RealtimeHlsResult {
  server: ServerName
  streams: number
  error?: string
  published: number
  keptUp: boolean
  behind: number
  held: boolean
  windowS: number
  idleCpuPct: number
  serverCpuPct: number
  cpuMsPerStreamS: number
  /** node-media-server: the share of its ffmpeg children. */
  childCpuMsPerStreamS: number
  idle: TreeMemory
  end: TreeMemory
  peakDeltaPerStreamKiB: number
  pssDeltaPerStreamKiB: number
  /** Bytes of HLS data held at the end: klive in RAM (Σ segment sizes), others on tmpfs. */
  hlsBytes: number
  hlsBytesOnTmpfs: boolean
  playlistsOk: number
  minSegments: number
  maxLagS: number
  segmentsChecked: number
  segmentsOk: number
  /** Playlist GET times during validation, ms (median, max). */
  playlistGetMs: [number, number]
  contentTypes: string[]
  probe: string
  klive?: { packaged: number; live: number; segmentsWritten: number; rejectedFrames: number }
  loadgenCpuPct: number
  notes: string[]
}

const median = (xs: number[]): number => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const m = Math.floor(v.length / 2)
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2
}

class HlsBench {
  private readonly versions = new Map<ServerName, string>()
  private readonly how = new Map<ServerName, string>()
  private scenario = 0

  constructor(
    private readonly ctx: HlsBenchContext,
    private readonly opts: HlsBenchOptions,
  ) {}

  private async start(name: ServerName): Promise<{ server: ServerHandle; dir: string }> {
    const dir = path.join(this.opts.fileRoot, `${name}-${++this.scenario}`)
    const tuning: ServerTuning = { hls: { targetDurationMs: this.opts.targetMs, dir } }
    if (this.opts.kliveReadPacingMs !== undefined) tuning.kliveReadPacingMs = this.opts.kliveReadPacingMs
    const server = await startServer(name, this.ctx.root, this.ctx.workDir, tuning)
    this.versions.set(name, server.version)
    if (server.hls) this.how.set(name, server.hls.how)
    return { server, dir }
  }

  async latency(name: ServerName): Promise<LatencyResult> {
    const runs: LatencyRun[] = []
    for (let i = 0; i < this.opts.latencyRuns; i++) {
      runs.push(await this.latencyOnce(name, i))
      const r = runs[runs.length - 1]
      this.ctx.log(r.error ? `  run ${i + 1}: error: ${r.error}` : `  run ${i + 1}: ${(r.ms / 1000).toFixed(2)} s (first segment ${r.firstSegmentS.toFixed(2)} s long)`)
    }
    return {
      server: name,
      runs,
      medianMs: median(runs.filter((r) => !r.error).map((r) => r.ms)),
      medianFromPublishMs: median(runs.filter((r) => !r.error).map((r) => r.fromPublishMs)),
    }
  }

  private async latencyOnce(name: ServerName, run: number): Promise<LatencyRun> {
    const result: LatencyRun = { ms: NaN, fromPublishMs: NaN, firstSegmentS: NaN }
    let server: ServerHandle | undefined
    let dir = ''
    const seen = new Set<number>()
    try {
      ;({ server, dir } = await this.start(name))
      await sleep(500)
      const stream = `lat${run}_0`
      const url = server.hls!.playlistUrl(stream)
      const lg = startLoadgen(this.ctx.loadgenBin, {
        url: server.url,
        streams: 1,
        file: this.ctx.clip,
        durationS: 60,
        fast: false,
        loop: true,
        rampMs: 0,
        namePrefix: `lat${run}_`,
      })
      try {
        const deadline = Date.now() + 40_000
        let found: { at: number; duration: number } | undefined
        let nextPoll = Date.now()
        while (!found && Date.now() < deadline) {
          for (const p of descendants(server.pid)) seen.add(p)
          try {
            const { status, text } = await fetchText(url)
            const at = Date.now()
            const pl = status === 200 ? parsePlaylist(text) : undefined
            if (pl && pl.segments.length > 0) {
              const seg = await fetchSegment(new URL(pl.segments[0].uri, url).toString())
              if (seg.status === 200 && seg.mpegts) found = { at, duration: pl.segments[0].duration }
            }
          } catch {
            // not yet served
          }
          nextPoll += POLL_MS
          await sleep(Math.max(0, nextPoll - Date.now()))
        }
        if (!found) throw new Error('no playable segment within 40 s')
        const t = lg.publishers.get(0)
        if (!t) throw new Error(`the publisher reported no start time: ${lg.logs.slice(0, 2).join('; ')}`)
        result.ms = found.at - t.firstByteUnixMs
        result.fromPublishMs = found.at - t.publishUnixMs
        result.firstSegmentS = found.duration
      } finally {
        await lg.stop()
      }
    } catch (err) {
      result.error = (err as Error).message.split('\n')[0]
    } finally {
      if (server) await server.stop()
      await reapLeftovers(seen)
      if (dir) rmSync(dir, { recursive: true, force: true })
    }
    return result
  }

  async realtime(name: ServerName, streams: number, windowS: number, rampMs: number): Promise<RealtimeHlsResult> {
    const r: RealtimeHlsResult = {
      server: name,
      streams,
      published: 0,
      keptUp: false,
      behind: 0,
      held: false,
      windowS,
      idleCpuPct: NaN,
      serverCpuPct: NaN,
      cpuMsPerStreamS: NaN,
      childCpuMsPerStreamS: NaN,
      idle: { rssKiB: NaN, hwmKiB: NaN, pssKiB: NaN, processes: 0 },
      end: { rssKiB: NaN, hwmKiB: NaN, pssKiB: NaN, processes: 0 },
      peakDeltaPerStreamKiB: NaN,
      pssDeltaPerStreamKiB: NaN,
      hlsBytes: NaN,
      hlsBytesOnTmpfs: false,
      playlistsOk: 0,
      minSegments: NaN,
      maxLagS: NaN,
      segmentsChecked: 0,
      segmentsOk: 0,
      playlistGetMs: [NaN, NaN],
      contentTypes: [],
      probe: '',
      loadgenCpuPct: NaN,
      notes: [],
    }
    let server: ServerHandle | undefined
    let dir = ''
    const seen = new Set<number>()
    let aborted: string | undefined
    let guard: NodeJS.Timeout | undefined
    try {
      ;({ server, dir } = await this.start(name))
      const pid = server.pid
      const running = server
      const victims: Array<{ kill(signal: NodeJS.Signals): boolean }> = [running.child]
      guard = setInterval(() => {
        const mem = hostMemoryAvailable()
        if (aborted === undefined && mem.fraction < MIN_HOST_MEMORY_AVAILABLE) {
          let rssKiB = NaN
          try {
            rssKiB = treeMemory(pid).rssKiB
          } catch {
            // gone
          }
          aborted = `aborted: host MemAvailable down to ${(mem.availableKiB / 2 ** 20).toFixed(1)} GiB (${(mem.fraction * 100).toFixed(0)} %) with the server tree at ${(rssKiB / 2 ** 20).toFixed(1)} GiB RSS`
          this.ctx.log(`  ${aborted}; killing the server and the load generator`)
          for (const v of victims) v.kill('SIGKILL')
        }
      }, 250)
      await sleep(500)
      const i0 = cpuMs(pid)
      const it0 = performance.now()
      await sleep(2000)
      r.idleCpuPct = ((cpuMs(pid) - i0) / (performance.now() - it0)) * 100
      r.idle = treeMemory(pid)
      const rampBudgetS = (streams * rampMs) / 1000 + 15
      const spawnedAt = Date.now()
      const lg = startLoadgen(this.ctx.loadgenBin, {
        url: server.url,
        streams,
        file: this.ctx.clip,
        durationS: Math.ceil(rampBudgetS + this.opts.warmup + windowS + 60),
        fast: false,
        loop: true,
        rampMs,
        namePrefix: 's',
      })
      victims.push(lg.child)
      let summary: LoadgenSummary | undefined
      try {
        const ramp = await withTimeout(lg.ramped, rampBudgetS * 1000 + 5000, 'publishers to start')
        if (!ramp) throw new Error(`klive-loadgen exited during setup: ${lg.logs.slice(0, 3).join('; ')}`)
        if (ramp.published < streams) r.notes.push(`${streams - ramp.published} publishers failed to start`)
        await sleep(this.opts.warmup * 1000)
        for (const p of descendants(pid)) seen.add(p)
        const s0 = treeCpuMs(pid)
        const l0 = cpuMs(lg.pid)
        const t0 = performance.now()
        await sleep(windowS * 1000)
        if (aborted) throw new Error(aborted)
        if (!server.alive()) throw new Error(`server died during the window\n${server.stderrTail()}`)
        const s1 = treeCpuMs(pid)
        const l1 = cpuMs(lg.pid)
        const wallMs = performance.now() - t0
        r.end = treeMemory(pid)
        for (const p of s1.keys()) seen.add(p)
        const total = cpuDelta(s0, s1)
        const children = cpuDelta(s0, s1, (p) => p !== pid)
        r.serverCpuPct = (total / wallMs) * 100
        r.cpuMsPerStreamS = total / (streams * (wallMs / 1000))
        r.childCpuMsPerStreamS = children / (streams * (wallMs / 1000))
        r.loadgenCpuPct = ((l1 - l0) / wallMs) * 100
        r.peakDeltaPerStreamKiB = (r.end.hwmKiB - r.idle.rssKiB) / streams
        r.pssDeltaPerStreamKiB = (r.end.pssKiB - r.idle.pssKiB) / streams
        if (name === 'nms') r.notes.push(`${r.end.processes - 1} ffmpeg processes at the end of the window`)

        // Validation, with the load still running (not part of the CPU window).
        this.ctx.log(`  window done (CPU ${fmt(r.serverCpuPct, 1)} %); validating ${streams} playlists…`)
        await this.validate(server, dir, streams, rampMs, lg.publishers.get(0)?.firstByteUnixMs ?? spawnedAt, r)
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
        r.playlistsOk === streams &&
        r.maxLagS <= this.opts.targetMs / 1000 + LAG_SLACK_S &&
        r.segmentsChecked > 0 &&
        r.segmentsOk === r.segmentsChecked
    } catch (err) {
      r.error = aborted ?? (err as Error).message
    } finally {
      if (guard) clearInterval(guard)
      if (server) {
        const pid = server.pid
        for (const p of descendants(pid)) seen.add(p)
        await server.stop()
      }
      const reaped = await reapLeftovers(seen)
      if (reaped > 0) r.notes.push(`${reaped} ffmpeg left running after the server stopped (killed)`)
      if (dir) rmSync(dir, { recursive: true, force: true })
    }
    return r
  }

  private async validate(server: ServerHandle, dir: string, streams: number, rampMs: number, firstByteUnixMs: number, r: RealtimeHlsResult): Promise<void> {
    const hls = server.hls!
    const names = Array.from({ length: streams }, (_, i) => `s${i}`)
    // The whole validation is bounded: requests not started by then are counted as failed.
    const deadline = Date.now() + VALIDATION_BUDGET_MS
    const lists = await mapLimit(names, 16, async (name, i) => {
      const url = hls.playlistUrl(name)
      if (Date.now() > deadline) return { url, status: 0, pl: undefined, lagS: NaN, ms: NaN, error: 'validation time budget exhausted' }
      const started = performance.now()
      try {
        const { status, text } = await fetchText(url)
        const at = Date.now()
        const pl = status === 200 ? parsePlaylist(text) : undefined
        const packagedS = pl ? pl.segments.reduce((a, s) => a + s.duration, 0) : 0
        const publishedS = (at - (firstByteUnixMs + i * rampMs)) / 1000
        return { url, status, pl, lagS: publishedS - packagedS, ms: performance.now() - started, error: undefined as string | undefined }
      } catch (err) {
        return { url, status: 0, pl: undefined, lagS: NaN, ms: performance.now() - started, error: (err as Error).message }
      }
    })
    const times = lists.map((l) => l.ms).filter(Number.isFinite)
    r.playlistGetMs = [median(times), times.length > 0 ? Math.max(...times) : NaN]
    const failedGets = lists.filter((l) => l.error !== undefined)
    if (failedGets.length > 0) r.notes.push(`${failedGets.length} playlist GETs failed (first: ${failedGets[0].error})`)
    const counts = lists.map((l) => l.pl?.segments.length ?? 0)
    r.playlistsOk = counts.filter((c) => c >= 2).length
    r.minSegments = Math.min(...counts)
    r.maxLagS = Math.max(...lists.map((l) => (l.pl ? l.lagS : Infinity)))
    const bad = lists.filter((l) => !l.pl || l.pl.segments.length < 2)
    if (bad.length > 0) r.notes.push(`${bad.length} playlists with < 2 segments (e.g. ${bad[0].url} → ${bad[0].status}, ${bad[0].pl?.segments.length ?? 0} segments)`)

    // A random listed segment of up to 20 random streams.
    const withSegments = lists.filter((l) => l.pl && l.pl.segments.length > 0)
    const sample = [...withSegments].sort(() => Math.random() - 0.5).slice(0, 20)
    const checks = await mapLimit(sample, 8, async (l) => {
      const segs = l.pl!.segments
      if (Date.now() > deadline) return { url: l.url, status: 0, contentType: '', bytes: 0, mpegts: false } as SegmentCheck
      const seg = segs[Math.floor(Math.random() * segs.length)]
      try {
        return await fetchSegment(new URL(seg.uri, l.url).toString())
      } catch (err) {
        return { url: seg.uri, status: 0, contentType: '', bytes: 0, mpegts: false, error: (err as Error).message } as SegmentCheck
      }
    })
    r.segmentsChecked = checks.length
    const wantType = server.name === 'klive' ? (t: string) => t.startsWith('video/mp2t') : () => true
    r.segmentsOk = checks.filter((c) => c.status === 200 && c.mpegts && wantType(c.contentType)).length
    r.contentTypes = [...new Set(checks.map((c) => `${c.status} ${c.contentType || '(none)'}`))]
    const probeMe = checks.find((c) => c.status === 200 && c.body)
    if (probeMe?.body) {
      const file = path.join(this.ctx.workDir, `probe-${server.name}.ts`)
      writeFileSync(file, probeMe.body)
      r.probe = ffprobeSummary(file)
      rmSync(file, { force: true })
    }

    // HLS data held.
    if (hls.dir) {
      r.hlsBytes = dirBytes(dir).bytes
      r.hlsBytesOnTmpfs = true
    } else {
      const sizes = await mapLimit(
        withSegments.flatMap((l) => l.pl!.segments.map((s) => new URL(s.uri, l.url).toString())),
        16,
        async (url) => {
          if (Date.now() > deadline) return NaN
          try {
            const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(5000) })
            return Number(res.headers.get('content-length') ?? NaN)
          } catch {
            return NaN
          }
        },
      )
      r.hlsBytes = sizes.filter(Number.isFinite).reduce((a, b) => a + b, 0)
    }
    if (server.query) {
      try {
        const reply = await server.query('hls', 10_000)
        const list = (reply['streams'] as Array<Record<string, unknown>> | undefined) ?? []
        r.klive = {
          packaged: list.length,
          live: list.filter((s) => s['live'] === true).length,
          segmentsWritten: list.reduce((a, s) => a + Number(s['segmentsWritten'] ?? 0), 0),
          rejectedFrames: list.reduce((a, s) => a + Number(s['rejectedFrames'] ?? 0), 0),
        }
      } catch (err) {
        r.notes.push(`hlsStreams() query failed: ${(err as Error).message}`)
      }
    }
  }

  async run(): Promise<{ report: string; failures: number }> {
    const { log } = this.ctx
    const o = this.opts
    const latency: LatencyResult[] = []
    if (o.latencyRuns > 0) {
      for (const s of o.servers) {
        log(`HLS latency ${HOST_LABELS[s]} (${o.latencyRuns} runs)…`)
        latency.push(await this.latency(s))
      }
    }
    const realtime: RealtimeHlsResult[] = []
    const failedAt = new Map<ServerName, number>()
    for (const n of o.streams) {
      for (const s of o.servers) {
        const f = failedAt.get(s)
        if (f !== undefined) {
          log(`HLS real-time N=${n} ${HOST_LABELS[s]}: skipped (did not hold N=${f})`)
          realtime.push({ ...this.skipped(s, n), error: `skipped: did not hold N = ${f}` })
          continue
        }
        log(`HLS real-time N=${n} ${HOST_LABELS[s]} (${o.seconds} s window)…`)
        const r = await this.realtime(s, n, o.seconds, o.rampMs)
        realtime.push(r)
        if (!r.held) failedAt.set(s, n)
        log(
          r.error
            ? `  error: ${r.error}`
            : `  CPU ${fmt(r.serverCpuPct, 1)} % (${fmt(r.cpuMsPerStreamS, 2)} ms/stream-s), playlists ok ${r.playlistsOk}/${n}, max lag ${fmt(r.maxLagS, 1)} s, segments ok ${r.segmentsOk}/${r.segmentsChecked}, held: ${r.held}`,
        )
      }
    }
    const maxResults: Array<{ server: ServerName; held: number; failedAt?: number; trials: string[] }> = []
    if (o.max) {
      for (const s of o.servers) {
        const held = realtime.filter((r) => r.server === s && r.held).map((r) => r.streams)
        const start = held.length > 0 ? Math.max(...held) : 0
        if (start === 0) {
          maxResults.push({ server: s, held: 0, trials: ['no standard scenario held; search skipped'] })
          continue
        }
        log(`HLS max search ${HOST_LABELS[s]} from N=${start}…`)
        maxResults.push(await this.searchMax(s, start))
      }
    }
    const failures = realtime.filter((r) => r.error && !r.error.startsWith('skipped')).length + latency.filter((l) => l.runs.some((r) => r.error)).length
    return { report: this.report(latency, realtime, maxResults), failures }
  }

  private skipped(s: ServerName, n: number): RealtimeHlsResult {
    return {
      server: s, streams: n, published: 0, keptUp: false, behind: 0, held: false, windowS: 0, idleCpuPct: NaN, serverCpuPct: NaN,
      cpuMsPerStreamS: NaN, childCpuMsPerStreamS: NaN, idle: { rssKiB: NaN, hwmKiB: NaN, pssKiB: NaN, processes: 0 },
      end: { rssKiB: NaN, hwmKiB: NaN, pssKiB: NaN, processes: 0 }, peakDeltaPerStreamKiB: NaN, pssDeltaPerStreamKiB: NaN,
      hlsBytes: NaN, hlsBytesOnTmpfs: false, playlistsOk: 0, minSegments: NaN, maxLagS: NaN, segmentsChecked: 0, segmentsOk: 0,
      playlistGetMs: [NaN, NaN], contentTypes: [], probe: '', loadgenCpuPct: NaN, notes: [],
    }
  }

  private async searchMax(s: ServerName, start: number): Promise<{ server: ServerName; held: number; failedAt?: number; trials: string[] }> {
    const res: { server: ServerName; held: number; failedAt?: number; trials: string[] } = { server: s, held: start, trials: [] }
    let lo = start
    let hi: number | undefined
    const windowS = Math.max(12, Math.round(this.opts.seconds * 0.7))
    for (let trial = 0; trial < 4; trial++) {
      const n = hi === undefined ? Math.min(this.opts.maxCap, lo * 2) : Math.round((lo + hi) / 2)
      if (n <= lo || (hi !== undefined && (n >= hi || hi / lo < 1.15))) break
      const rampMs = Math.max(1, Math.min(20, Math.floor(5000 / n)))
      const r = await this.realtime(s, n, windowS, rampMs)
      const verdict = r.error
        ? `error: ${r.error.split('\n')[0]}`
        : `${r.held ? 'held' : 'failed'} (CPU ${fmt(r.serverCpuPct, 0)} %, ${fmt(r.cpuMsPerStreamS, 2)} ms/stream-s, playlists ok ${r.playlistsOk}/${n}, max lag ${fmt(r.maxLagS, 1)} s, behind ${r.behind}, loadgen CPU ${fmt(r.loadgenCpuPct, 0)} %)` +
          (r.held || r.notes.length === 0 ? '' : `: ${r.notes.join('; ')}`)
      res.trials.push(`N=${n}: ${verdict}`)
      this.ctx.log(`  max ${HOST_LABELS[s]} N=${n}: ${verdict}`)
      if (r.held) {
        lo = n
        res.held = n
        if (n >= this.opts.maxCap) break
      } else {
        hi = n
        res.failedAt = n
      }
    }
    return res
  }

  private report(
    latency: LatencyResult[],
    realtime: RealtimeHlsResult[],
    maxResults: Array<{ server: ServerName; held: number; failedAt?: number; trials: string[] }>,
  ): string {
    const o = this.opts
    const md: string[] = []
    md.push('## HLS packaging (passthrough, no transcoding)')
    md.push('')
    md.push(`Target duration ${o.targetMs / 1000} s, GOP 2 s. How each server packages:`)
    md.push('')
    for (const s of o.servers) md.push(`- **${HOST_LABELS[s]}** (${this.versions.get(s) ?? SERVER_LABELS[s]}): ${this.how.get(s) ?? '?'}`)
    md.push(`- nginx's and node-media-server's segment files go to \`${o.fileRoot}\` on tmpfs (/dev/shm), so disk speed plays no part; those bytes use RAM but are not in the server's RSS (column "HLS data held").`)
    if (latency.length > 0) {
      md.push('')
      md.push(`### Publish-to-first-playable-segment latency (1 stream, median of ${o.latencyRuns}; fresh server per run)`)
      md.push('')
      md.push(
        `From the publisher's first byte (klive-loadgen's wall clock just before it writes the RTMP handshake) to the first poll of the media playlist (every ${POLL_MS} ms, over HTTP) that lists a segment, the segment then fetched with 200 and MPEG-TS bytes. The first segment cannot close before the keyframe at ${o.targetMs / 1000} s of media time arrives, so ≈ ${o.targetMs / 1000} s is the floor for every server.`,
      )
      md.push('')
      md.push('| server | median (s) | median from publish start (s) | runs (s) | first segment length (s) |')
      md.push('|---|---:|---:|---|---|')
      for (const l of latency) {
        md.push(
          `| ${HOST_LABELS[l.server]} | ${fmt(l.medianMs / 1000, 2)} | ${fmt(l.medianFromPublishMs / 1000, 2)} | ${l.runs.map((r) => (r.error ? `error: ${r.error.replace(/\|/g, '/')}` : fmt(r.ms / 1000, 2))).join(', ')} | ${l.runs.map((r) => fmt(r.firstSegmentS, 2)).join(', ')} |`,
        )
      }
    }
    md.push('')
    md.push(`### Real-time publishers, every stream packaged (${o.seconds} s window after ${o.warmup} s warm-up)`)
    md.push('')
    md.push(
      'CPU and memory are of the server\'s process tree: node-media-server\'s row includes its ffmpeg children (their share in the "of which ffmpeg" column). "Peak RSS Δ per stream" = (Σ VmHWM over the tree at the end − idle RSS) / N; PSS splits shared pages (each ffmpeg maps the same libraries). klive keeps its segments in RAM, so its RSS includes them; nginx and ffmpeg write files to tmpfs, counted in "HLS data held" instead.',
    )
    md.push('')
    md.push(
      '| N | server | held | server CPU (% of 1 core) | CPU-ms per stream-s | of which ffmpeg | peak RSS Δ per stream (KiB) | PSS Δ per stream (KiB) | HLS data held per stream (KiB) | RAM per stream incl. tmpfs (KiB) | loadgen CPU % |',
    )
    md.push('|---:|---|:---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for (const r of realtime) {
      if (r.error) {
        md.push(`| ${r.streams} | ${HOST_LABELS[r.server]} | ${r.error.split('\n')[0].replace(/\|/g, '/')} | | | | | | | | |`)
        continue
      }
      const held = r.hlsBytes / 1024 / r.streams
      const ram = r.pssDeltaPerStreamKiB + (r.hlsBytesOnTmpfs ? held : 0)
      md.push(
        `| ${r.streams} | ${HOST_LABELS[r.server]} | ${r.held ? 'yes' : '**NO**'} | ${fmt(r.serverCpuPct, 1)} | ${fmt(r.cpuMsPerStreamS, 2)} | ${r.server === 'nms' ? fmt(r.childCpuMsPerStreamS, 2) : '–'} | ${fmt(r.peakDeltaPerStreamKiB, 0)} | ${fmt(r.pssDeltaPerStreamKiB, 0)} | ${fmt(held, 0)}${r.hlsBytesOnTmpfs ? ' (tmpfs)' : ' (in process)'} | ${fmt(ram, 0)} | ${fmt(r.loadgenCpuPct, 0)} |`,
      )
    }
    md.push('')
    md.push('### Validation (end of each window, load still running)')
    md.push('')
    md.push(
      `"Playlists ≥ 2 seg." = media playlists fetched over HTTP that list at least 2 segments. "Max lag" = the largest (time the stream has been published − Σ EXTINF of its playlist) over all streams; a stream keeps up when it is ≤ target + ${LAG_SLACK_S} s (one open segment plus slack). Segments: one random listed segment of up to 20 random streams, must be 200 with MPEG-TS bytes (and \`video/mp2t\` for klive). "held" = every publisher on schedule, every playlist ≥ 2 segments, every stream keeps up, every sampled segment fine.`,
    )
    md.push('')
    md.push('| N | server | publishers ok | playlists ≥ 2 seg. | min segments | max lag (s) | playlist GET median / max (ms) | segments fetched ok | status / content type | ffprobe of one | klive hlsStreams() |')
    md.push('|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|')
    for (const r of realtime) {
      if (r.error) continue
      const k = r.klive
        ? `${r.klive.packaged} packaged, ${r.klive.live} live, ${r.klive.segmentsWritten} segments written, ${r.klive.rejectedFrames} rejected frames`
        : '–'
      md.push(
        `| ${r.streams} | ${HOST_LABELS[r.server]} | ${r.published}/${r.streams}${r.behind > 0 ? ` (${r.behind} behind)` : ''} | ${r.playlistsOk}/${r.streams} | ${fmt(r.minSegments, 0)} | ${fmt(r.maxLagS, 1)} | ${fmt(r.playlistGetMs[0], 1)} / ${fmt(r.playlistGetMs[1], 0)} | ${r.segmentsOk}/${r.segmentsChecked} | ${r.contentTypes.join(', ')} | ${r.probe} | ${k} |`,
      )
    }
    const notes = realtime.filter((r) => r.notes.length > 0 && !r.error)
    if (notes.length > 0) {
      md.push('')
      for (const r of notes) md.push(`- N=${r.streams} ${HOST_LABELS[r.server]}: ${r.notes.join('; ')}`)
    }
    const errors = realtime.filter((r) => r.error && !r.error.startsWith('skipped'))
    if (errors.length > 0) {
      md.push('')
      for (const r of errors) md.push(`- N=${r.streams} ${HOST_LABELS[r.server]} error: ${r.error}`)
    }
    if (maxResults.length > 0) {
      md.push('')
      md.push(`### Largest N held (search from the largest standard N held, doubling, cap ${o.maxCap}, at most 4 trials)`)
      md.push('')
      md.push('| server | largest N held | first N that failed | trials |')
      md.push('|---|---:|---:|---|')
      for (const m of maxResults) md.push(`| ${HOST_LABELS[m.server]} | ${m.held} | ${m.failedAt ?? '–'} | ${m.trials.join('<br>').replace(/\|/g, '/')} |`)
    }
    md.push('')
    return md.join('\n')
  }
}


/** Upper bound of the suite's wall time, s (for the harness watchdog). */
export function hlsBudgetS(o: HlsBenchOptions): number {
  let s = o.servers.length * o.latencyRuns * 50
  for (const n of o.streams) s += o.servers.length * (10 + (n * o.rampMs) / 1000 + 15 + o.warmup + o.seconds + 90)
  if (o.max) s += o.servers.length * 4 * (10 + 5 + 15 + o.warmup + o.seconds + 90)
  return s
}

let activeFileRoot: string | undefined

/** Remove the suite's tmpfs directory (synchronous; for signal handlers). */
export function cleanupHls(): void {
  if (activeFileRoot) rmSync(activeFileRoot, { recursive: true, force: true })
  activeFileRoot = undefined
}

export async function runHlsBench(ctx: HlsBenchContext, opts: HlsBenchOptions): Promise<{ report: string; failures: number }> {
  mkdirSync(path.dirname(opts.fileRoot), { recursive: true })
  const fileRoot = mkdtempSync(opts.fileRoot)
  activeFileRoot = fileRoot
  try {
    return await new HlsBench(ctx, { ...opts, fileRoot }).run()
  } finally {
    cleanupHls()
  }
}
