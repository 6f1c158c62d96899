// Segment store benchmarks (issue #16). `npm run bench:store -- SCENARIO [options]`:
//
//  origin    hundreds of HLS players against klive's origin and against nginx serving
//            nginx-rtmp's HLS directory, in the same run: both servers ingest the same S
//            looped publishers (klive-loadgen), then P live players and D DVR players hit
//            one server for --seconds, then the other. A live player behaves like hls.js on a
//            live stream: it reloads the media playlist every target duration and fetches each
//            new segment once (starting 3 from the end). A DVR player fetches the DVR playlist,
//            seeks to a random point of the window and downloads segments back to back until
//            it holds 30 s ahead of its playhead (hls.js maxBufferLength), then one per
//            segment played, reloading the playlist every target duration. Reported: requests/s,
//            p50/p99 latency (request sent → body received), bytes/s, server CPU.
//  dvr-fill  S passthrough streams packaged with a DVR window of --window-s, run window + 2
//            minutes: RSS and the store's memory/disk every 10 s; at the end every ?DVR playlist
//            must span the window, and segments at its start, middle and end go through ffprobe.
//  streams   N passthrough HLS streams for --seconds: every playlist must advance between the
//            middle and the end of the run; RSS and CPU.
//  soak      S streams packaged (live edge + DVR on disk) and recorded (--record-segment-s),
//            RSS every 30 s for --seconds; RSS after the first sixth must stay within ±5 %.
//
// Every scenario is bounded by --seconds (and the window) and stops its children.
import { spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseArgs } from 'node:util'
import { buildLoadgen, startLoadgen, type LoadgenRun } from './lib/loadgen'
import { cpuMs, memory, num, onLines, parseJsonObject, sleep, spawnTracked, stopChild, str, withTimeout, killAllChildren } from './lib/proc'
import { ffprobeSummary, fmt } from './lib/report'
import { startServer, type ServerHandle } from './lib/servers'

const ROOT = path.resolve(__dirname, '..')
const OUT_DIR = path.join(ROOT, 'bench', 'out')
const CLIP = path.join(OUT_DIR, 'clip.flv')
const HOST = '127.0.0.1'

interface Opts {
  scenario: string
  streams: number
  players: number
  dvrPlayers: number
  seconds: number
  warmup: number
  windowS: number
  targetMs: number
  recordSegmentS: number
  memoryBudget?: number
  dir: string
  clip: string
}

function options(): Opts {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      streams: { type: 'string' },
      players: { type: 'string' },
      'dvr-players': { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'window-s': { type: 'string' },
      'target-ms': { type: 'string' },
      'record-segment-s': { type: 'string' },
      'memory-budget': { type: 'string' },
      dir: { type: 'string' },
      clip: { type: 'string' },
    },
  })
  const scenario = positionals[0] ?? ''
  if (!['origin', 'dvr-fill', 'streams', 'soak'].includes(scenario)) {
    process.stderr.write('usage: npm run bench:store -- origin|dvr-fill|streams|soak [--streams N] [--players P] [--dvr-players D] [--seconds S]\n' +
      '         [--warmup S] [--window-s S] [--target-ms MS] [--record-segment-s S] [--memory-budget BYTES] [--dir DIR] [--clip FLV]\n')
    process.exit(2)
  }
  const n = (v: string | undefined, d: number): number => (v === undefined ? d : Number(v))
  const defaults: Record<string, { streams: number; seconds: number }> = {
    origin: { streams: 20, seconds: 60 },
    'dvr-fill': { streams: 50, seconds: 0 },
    streams: { streams: 500, seconds: 300 },
    soak: { streams: 50, seconds: 3600 },
  }
  return {
    scenario,
    streams: n(values.streams, defaults[scenario].streams),
    players: n(values.players, 300),
    dvrPlayers: n(values['dvr-players'], 100),
    seconds: n(values.seconds, defaults[scenario].seconds),
    warmup: n(values.warmup, 90),
    windowS: n(values['window-s'], 600),
    targetMs: n(values['target-ms'], 2000),
    recordSegmentS: n(values['record-segment-s'], 300),
    memoryBudget: values['memory-budget'] === undefined ? undefined : Number(values['memory-budget']),
    dir: values.dir ?? path.join(os.tmpdir(), `klive-bench-store-${process.pid}`),
    clip: values.clip ?? CLIP,
  }
}

// ---------------------------------------------------------------------------------------------
// klive-target with the store

interface Target {
  child: ChildProcess
  pid: number
  port: number
  query(command: string): Promise<Record<string, unknown>>
}

async function startKlive(o: Opts, extra: string[]): Promise<Target> {
  const hlsDir = path.join(o.dir, 'klive-hls')
  const child = spawnTracked(process.execPath, [
    '--import', 'tsx', path.join('bench', 'klive-target.ts'), HOST,
    '--hls-target-ms', String(o.targetMs), '--hls-dir', hlsDir,
    ...(o.memoryBudget === undefined ? [] : ['--hls-memory-budget', String(o.memoryBudget)]),
    ...extra,
  ], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
  const waiting: Array<{ command: string; resolve(obj: Record<string, unknown>): void }> = []
  let ready: ((obj: Record<string, unknown>) => void) | undefined
  const readyObj = new Promise<Record<string, unknown>>((resolve) => (ready = resolve))
  onLines(child.stdout, (line) => {
    const obj = parseJsonObject(line)
    if (!obj) return
    if (Number.isFinite(num(obj, 'port'))) ready?.(obj)
    const reply = str(obj, 'reply')
    const i = waiting.findIndex((w) => w.command === reply)
    if (i >= 0) waiting.splice(i, 1)[0].resolve(obj)
  })
  onLines(child.stderr, (line) => process.stderr.write(`[klive] ${line}\n`))
  const info = await withTimeout(readyObj, 30_000, 'klive-target')
  return {
    child,
    pid: num(info, 'pid'),
    port: num(info, 'port'),
    query: (command) => {
      const answer = new Promise<Record<string, unknown>>((resolve) => waiting.push({ command, resolve }))
      child.stdin?.write(`${command}\n`)
      return withTimeout(answer, 10_000, `klive-target '${command}'`)
    },
  }
}

function publish(loadgenBin: string, url: string, streams: number, seconds: number, clip: string): LoadgenRun {
  return startLoadgen(loadgenBin, { url, streams, file: clip, durationS: seconds, loop: true, fast: false, rampMs: 10, namePrefix: 's' })
}

const kliveUrl = (port: number, stream: string, dvr = false): string => `http://${HOST}:${port}/kLive/${stream}/playlist.m3u8${dvr ? '?DVR' : ''}`

// ---------------------------------------------------------------------------------------------
// HTTP players

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })

interface Tally {
  requests: number
  errors: number
  bytes: number
  latencies: number[]
}

const tally = (): Tally => ({ requests: 0, errors: 0, bytes: 0, latencies: [] })

function get(url: string, t: Tally): Promise<Buffer | undefined> {
  const start = performance.now()
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        t.requests++
        t.bytes += body.length
        t.latencies.push(performance.now() - start)
        if (res.statusCode !== 200) {
          t.errors++
          resolve(undefined)
        } else resolve(body)
      })
      res.on('error', () => {
        t.errors++
        resolve(undefined)
      })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => {
      t.requests++
      t.errors++
      resolve(undefined)
    })
  })
}

interface Listed {
  uri: string
  duration: number
}

function segmentsOf(text: string): Listed[] {
  const out: Listed[] = []
  let d = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXTINF:')) d = Number(line.slice(8).split(',')[0])
    else if (line !== '' && !line.startsWith('#')) out.push({ uri: line.trim(), duration: d })
  }
  return out
}

const resolveUri = (playlist: string, uri: string): string => new URL(uri, playlist).toString()

async function livePlayer(url: string, targetMs: number, until: number, playlists: Tally, segments: Tally): Promise<void> {
  const seen = new Set<string>()
  let first = true
  while (Date.now() < until) {
    const started = Date.now()
    const text = await get(url, playlists)
    if (text) {
      const listed = segmentsOf(text.toString('utf8'))
      const fresh = first ? listed.slice(-3) : listed.filter((s) => !seen.has(s.uri))
      for (const s of listed) seen.add(s.uri)
      first = false
      for (const s of fresh) {
        if (Date.now() >= until) break
        await get(resolveUri(url, s.uri), segments)
      }
    }
    await sleep(Math.max(0, targetMs - (Date.now() - started)))
  }
}

async function dvrPlayer(url: string, targetMs: number, until: number, playlists: Tally, segments: Tally): Promise<void> {
  const text = await get(url, playlists)
  if (!text) return
  let listed = segmentsOf(text.toString('utf8'))
  let next = Math.floor(Math.random() * Math.max(1, listed.length * 0.8))
  let nextUri = listed[next]?.uri
  const startedAt = Date.now()
  let buffered = 0
  let reloadAt = Date.now() + targetMs
  while (Date.now() < until && nextUri !== undefined) {
    const playhead = (Date.now() - startedAt) / 1000
    if (buffered - playhead < 30) {
      const s = listed.find((x) => x.uri === nextUri)
      if (!s) break
      await get(resolveUri(url, s.uri), segments)
      buffered += s.duration
      const i = listed.indexOf(s)
      nextUri = listed[i + 1]?.uri
    } else {
      await sleep(200)
    }
    if (Date.now() >= reloadAt) {
      reloadAt = Date.now() + targetMs
      const again = await get(url, playlists)
      if (again) {
        listed = segmentsOf(again.toString('utf8'))
        if (nextUri === undefined) nextUri = listed[listed.length - 1]?.uri
      }
    }
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

interface OriginResult {
  server: string
  windowS: number
  playlists: Tally
  segments: Tally
  serverCpuPct: number
  clientCpuPct: number
  rssKiB: number
}

async function loadOrigin(server: string, pid: number, live: (i: number) => string, dvr: (i: number) => string, o: Opts): Promise<OriginResult> {
  const playlists = tally()
  const segments = tally()
  const until = Date.now() + o.seconds * 1000
  const cpu0 = cpuMs(pid)
  const client0 = process.cpuUsage()
  const t0 = Date.now()
  const players: Promise<void>[] = []
  for (let i = 0; i < o.players; i++) {
    players.push(sleep((i * 1000) / Math.max(1, o.players)).then(() => livePlayer(live(i % o.streams), o.targetMs, until, playlists, segments)))
  }
  for (let i = 0; i < o.dvrPlayers; i++) {
    players.push(sleep((i * 1000) / Math.max(1, o.dvrPlayers)).then(() => dvrPlayer(dvr(i % o.streams), o.targetMs, until, playlists, segments)))
  }
  await Promise.all(players)
  const wall = (Date.now() - t0) / 1000
  const client = process.cpuUsage(client0)
  return {
    server,
    windowS: wall,
    playlists,
    segments,
    serverCpuPct: ((cpuMs(pid) - cpu0) / (wall * 1000)) * 100,
    clientCpuPct: ((client.user + client.system) / 1000 / (wall * 1000)) * 100,
    rssKiB: memory(pid).rssKiB,
  }
}

function originTable(results: OriginResult[]): string[] {
  const md = ['| server | requests/s | segment p50 / p99 (ms) | playlist p50 / p99 (ms) | errors | MB/s out | server CPU (% of 1 core) | CPU-ms per 1000 requests | server RSS (MiB) | client CPU % |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
  for (const r of results) {
    const requests = r.playlists.requests + r.segments.requests
    const bytes = r.playlists.bytes + r.segments.bytes
    md.push(`| ${r.server} | ${fmt(requests / r.windowS, 0)} | ${fmt(percentile(r.segments.latencies, 50), 1)} / ${fmt(percentile(r.segments.latencies, 99), 1)} | ${fmt(percentile(r.playlists.latencies, 50), 1)} / ${fmt(percentile(r.playlists.latencies, 99), 1)} | ${r.playlists.errors + r.segments.errors} | ${fmt(bytes / r.windowS / 1e6, 1)} | ${fmt(r.serverCpuPct, 1)} | ${fmt(((r.serverCpuPct / 100) * r.windowS * 1000) / (requests / 1000), 0)} | ${fmt(r.rssKiB / 1024, 0)} | ${fmt(r.clientCpuPct, 0)} |`)
  }
  return md
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async function origin(o: Opts, loadgenBin: string, md: string[]): Promise<void> {
  const klive = await startKlive(o, ['--dvr-window-ms', String(o.windowS * 1000)])
  const nginxDir = path.join(o.dir, 'nginx-hls')
  const nginx = await startServer('nginx', ROOT, o.dir, { hls: { targetDurationMs: o.targetMs, dir: nginxDir, playlistLengthS: o.windowS } })
  const publishS = o.warmup + 2 * o.seconds + 60
  const lk = publish(loadgenBin, `rtmp://${HOST}:${klive.port}/live`, o.streams, publishS, o.clip)
  const ln = publish(loadgenBin, nginx.url, o.streams, publishS, o.clip)
  try {
    await sleep(o.warmup * 1000)
    const results: OriginResult[] = []
    results.push(await loadOrigin('klive-server (origin on the RTMP port, store on disk past the live edge)', klive.pid, (i) => kliveUrl(klive.port, `s${i}`), (i) => kliveUrl(klive.port, `s${i}`, true), o))
    const store = await klive.query('store')
    const nginxHls = nginx.hls
    if (!nginxHls) throw new Error('nginx without HLS')
    // nginx-rtmp's playlist holds the whole window: it is its live and its DVR playlist.
    results.push(await loadOrigin(`nginx ${nginx.version} (http module serving hls_path)`, nginx.pid, (i) => nginxHls.playlistUrl(`s${i}`), (i) => nginxHls.playlistUrl(`s${i}`), o))
    md.push(`${o.streams} streams published to each server (looped clip, real time), target ${o.targetMs / 1000} s, DVR window ${o.windowS} s (nginx: hls_playlist_length ${o.windowS}s); after ${o.warmup} s of warm-up, ${o.players} live players + ${o.dvrPlayers} DVR players for ${o.seconds} s per server, one server at a time (both keep ingesting).`)
    md.push('')
    md.push(...originTable(results))
    md.push('')
    md.push(`klive store after its run: ${JSON.stringify(store)}`)
  } finally {
    lk.child.kill('SIGTERM')
    ln.child.kill('SIGTERM')
    await stopChild(klive.child, 'SIGTERM', 5000)
    await nginx.stop()
  }
}

async function sampleLoop(target: Target, seconds: number, everyS: number, onSample: (t: number, rssKiB: number, anonKiB: number, store: Record<string, unknown>) => void): Promise<void> {
  const t0 = Date.now()
  for (;;) {
    const t = (Date.now() - t0) / 1000
    const store = await target.query('store').catch(() => ({}))
    const m = memory(target.pid)
    onSample(t, m.rssKiB, anonKiB(target.pid), store)
    if (t >= seconds) return
    await sleep(Math.min(everyS, seconds - t) * 1000)
  }
}

function anonKiB(pid: number): number {
  const r = spawnSync('grep', ['RssAnon', `/proc/${pid}/status`], { encoding: 'utf8' })
  return Number(/(\d+)/.exec(r.stdout)?.[1] ?? NaN)
}

const mib = (kib: number): string => fmt(kib / 1024, 0)

async function dvrFill(o: Opts, loadgenBin: string, md: string[]): Promise<void> {
  const klive = await startKlive(o, ['--dvr-window-ms', String(o.windowS * 1000)])
  const runS = o.seconds > 0 ? o.seconds : o.windowS + 120
  const lg = publish(loadgenBin, `rtmp://${HOST}:${klive.port}/live`, o.streams, runS + 30, o.clip)
  const rows: string[] = []
  try {
    const idle = memory(klive.pid).rssKiB
    await sampleLoop(klive, runS, 30, (t, rss, anon, s) => {
      rows.push(`| ${fmt(t, 0)} | ${mib(rss)} | ${mib(anon)} | ${fmt(num(s, 'memoryBytes') / 2 ** 20, 1)} | ${num(s, 'memorySegments')} | ${fmt(num(s, 'diskBytes') / 2 ** 20, 0)} | ${num(s, 'diskSegments')} | ${num(s, 'earlySpills')} | ${num(s, 'lostSegments')} |`)
    })
    // Every DVR playlist spans the window; start, middle and end segments decode.
    let spanning = 0
    const spans: number[] = []
    const probes: string[] = []
    for (let i = 0; i < o.streams; i++) {
      const text = await get(kliveUrl(klive.port, `s${i}`, true), tally())
      const listed = text ? segmentsOf(text.toString('utf8')) : []
      const span = listed.reduce((a, s) => a + s.duration, 0)
      spans.push(span)
      if (span >= o.windowS - (2 * o.targetMs) / 1000) spanning++
      if (i < 3 && listed.length > 0) {
        for (const s of [listed[0], listed[Math.floor(listed.length / 2)], listed[listed.length - 1]]) {
          const body = await get(resolveUri(kliveUrl(klive.port, `s${i}`), s.uri), tally())
          const file = path.join(o.dir, `probe-s${i}-${s.uri}`)
          if (body) writeFileSync(file, body)
          probes.push(`s${i}/${s.uri}: ${body ? ffprobeSummary(file) : 'not served'}`)
        }
      }
    }
    const store = await klive.query('store')
    const end = memory(klive.pid)
    md.push(`${o.streams} passthrough streams (looped clip, real time), target ${o.targetMs / 1000} s, DVR window ${o.windowS} s, run ${runS} s; idle RSS ${mib(idle)} MiB.`)
    md.push('')
    md.push('| t (s) | RSS (MiB) | RssAnon (MiB) | store memory (MiB) | in memory | store disk (MiB) | on disk | early spills | lost |')
    md.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    md.push(...rows)
    md.push('')
    md.push(`- ?DVR playlists spanning the window (≥ window − 2 targets): ${spanning}/${o.streams}; span min/median/max ${fmt(Math.min(...spans), 0)} / ${fmt(percentile(spans, 50), 0)} / ${fmt(Math.max(...spans), 0)} s`)
    md.push(`- ffprobe of start / middle / end segments: ${probes.join('; ')}`)
    md.push(`- End: RSS ${mib(end.rssKiB)} MiB (peak ${mib(end.hwmKiB)} MiB); store ${JSON.stringify(store)}`)
    md.push(`- Per entry (one rendition): disk ${fmt(num(store, 'diskBytes') / o.streams / 2 ** 20, 1)} MiB for ${o.windowS} s of window; RSS above idle ${fmt((end.rssKiB - idle) / o.streams / 1024, 2)} MiB`)
  } finally {
    lg.child.kill('SIGTERM')
    await stopChild(klive.child, 'SIGTERM', 5000)
  }
}

async function manyStreams(o: Opts, loadgenBin: string, md: string[]): Promise<void> {
  const klive = await startKlive(o, [])
  const lg = publish(loadgenBin, `rtmp://${HOST}:${klive.port}/live`, o.streams, o.seconds + 60, o.clip)
  const last = async (): Promise<Array<string | undefined>> => {
    const out: Array<string | undefined> = []
    for (let i = 0; i < o.streams; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, o.streams - i) }, (_, j) => get(kliveUrl(klive.port, `s${i + j}`), tally())))
      for (const [j, b] of batch.entries()) {
        // On a loaded host a request may time out: ask again, one at a time, before counting it.
        const body = b ?? (await get(kliveUrl(klive.port, `s${i + j}`), tally())) ?? (await get(kliveUrl(klive.port, `s${i + j}`), tally()))
        out.push(body ? segmentsOf(body.toString('utf8')).pop()?.uri : undefined)
      }
    }
    return out
  }
  try {
    const ramp = (o.streams * 10) / 1000 + 30
    await sleep(ramp * 1000)
    const cpu0 = cpuMs(klive.pid)
    const t0 = Date.now()
    await sleep(((o.seconds - ramp) / 2) * 1000)
    const middle = await last()
    const rssMiddle = memory(klive.pid).rssKiB
    await sleep(((o.seconds - ramp) / 2) * 1000)
    const end = await last()
    const wall = (Date.now() - t0) / 1000
    const cpu = ((cpuMs(klive.pid) - cpu0) / (wall * 1000)) * 100
    const advancing = end.filter((u, i) => u !== undefined && middle[i] !== undefined && u !== middle[i]).length
    const ramped = await Promise.race([lg.ramped, sleep(1000).then(() => undefined)])
    const store = await klive.query('store')
    const m = memory(klive.pid)
    md.push(`${o.streams} passthrough streams packaged to HLS (looped clip, real time, no DVR), target ${o.targetMs / 1000} s, ${o.seconds} s.`)
    md.push('')
    md.push(`- Publishers started by klive-loadgen: ${ramped ? `${ramped.published} published, ${ramped.refused} refused, ${ramped.errors} errors in ${fmt(ramped.seconds, 1)} s` : 'ramp not reported'}`)
    md.push(`- Playlists that advanced between the middle and the end of the run: ${advancing}/${o.streams} (served at the middle: ${middle.filter((u) => u !== undefined).length}, at the end: ${end.filter((u) => u !== undefined).length})`)
    md.push(`- Server CPU ${fmt(cpu, 0)} % of one core; RSS middle ${mib(rssMiddle)} MiB, end ${mib(m.rssKiB)} MiB (peak ${mib(m.hwmKiB)} MiB) = ${fmt(m.rssKiB / 1024 / o.streams, 2)} MiB per stream`)
    md.push(`- Store: ${JSON.stringify(store)}`)
  } finally {
    lg.child.kill('SIGTERM')
    await stopChild(klive.child, 'SIGTERM', 5000)
  }
}

async function soak(o: Opts, loadgenBin: string, md: string[]): Promise<void> {
  const recordDir = path.join(o.dir, 'rec')
  const klive = await startKlive(o, ['--dvr-window-ms', String(o.windowS * 1000), '--record-dir', recordDir, '--record-segment-ms', String(o.recordSegmentS * 1000)])
  const lg = publish(loadgenBin, `rtmp://${HOST}:${klive.port}/live`, o.streams, o.seconds + 60, o.clip)
  const samples: Array<{ t: number; rss: number; anon: number }> = []
  const rows: string[] = []
  try {
    await sampleLoop(klive, o.seconds, 30, (t, rss, anon, s) => {
      samples.push({ t, rss, anon })
      rows.push(`| ${fmt(t / 60, 1)} | ${mib(rss)} | ${mib(anon)} | ${fmt(num(s, 'memoryBytes') / 2 ** 20, 1)} | ${fmt(num(s, 'diskBytes') / 2 ** 20, 0)} |`)
    })
    const settled = samples.filter((s) => s.t >= o.seconds / 6)
    const mean = settled.reduce((a, s) => a + s.rss, 0) / settled.length
    const lo = Math.min(...settled.map((s) => s.rss))
    const hi = Math.max(...settled.map((s) => s.rss))
    md.push(`${o.streams} streams packaged (target ${o.targetMs / 1000} s, DVR ${o.windowS} s on disk) and recorded (${o.recordSegmentS} s MP4 segments), ${o.seconds} s.`)
    md.push('')
    md.push(`- RSS after minute ${fmt(o.seconds / 6 / 60, 0)}: mean ${mib(mean)} MiB, min ${mib(lo)} (${fmt(((lo - mean) / mean) * 100, 1)} %), max ${mib(hi)} (+${fmt(((hi - mean) / mean) * 100, 1)} %)`)
    md.push('')
    md.push('| minute | RSS (MiB) | RssAnon (MiB) | store memory (MiB) | store disk (MiB) |')
    md.push('|---:|---:|---:|---:|---:|')
    md.push(...rows)
  } finally {
    lg.child.kill('SIGTERM')
    await stopChild(klive.child, 'SIGTERM', 5000)
  }
}

async function main(): Promise<void> {
  const o = options()
  if (!existsSync(o.clip)) throw new Error(`${o.clip} is missing: run \`npm run bench -- --suite rtmp --streams 1 --seconds 2\` once to make it`)
  rmSync(o.dir, { recursive: true, force: true })
  mkdirSync(o.dir, { recursive: true })
  const loadgenBin = await buildLoadgen(ROOT)
  const md: string[] = [`# Segment store: ${o.scenario}`, '', '```', `npm run bench:store -- ${process.argv.slice(2).join(' ')}`, '```', '']
  const load0 = os.loadavg()
  md.push(`- Date: ${new Date().toISOString()}; host ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, ${fmt(os.totalmem() / 2 ** 30, 0)} GiB; load average before: ${load0.map((l) => l.toFixed(2)).join(' / ')} (shared machine)`)
  md.push('')
  const scenarios: Record<string, (o: Opts, bin: string, md: string[]) => Promise<void>> = { origin, 'dvr-fill': dvrFill, streams: manyStreams, soak }
  try {
    await scenarios[o.scenario](o, loadgenBin, md)
  } finally {
    killAllChildren()
  }
  md.push('')
  md.push(`- Load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' / ')}`)
  const report = md.join('\n') + '\n'
  process.stdout.write(report)
  mkdirSync(OUT_DIR, { recursive: true })
  writeFileSync(path.join(OUT_DIR, `store-${o.scenario}.md`), report)
  rmSync(o.dir, { recursive: true, force: true })
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/store: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  killAllChildren()
  process.exit(1)
})
