// SRT ingest cost beside RTMP's, same server process, same run (`npm run bench:srt`).
//
// One klive-server core (bench/klive-target.ts --srt, production defaults, every publish
// accepted) receives N real-time publishers of the same clip — 1280x720p30 H.264 (x264
// veryfast, 3000k, GOP 60) + AAC 128k, encoded once — first over RTMP (`ffmpeg -re -c copy -f
// flv`), then over SRT (`ffmpeg -re -c copy -f mpegts srt://…`, libsrt caller, 120 ms latency).
// The same publisher program on both sides, so the difference is the server's: TCP + RTMP
// chunking vs UDP + SRT ARQ/ACKs + TS demux. For each phase: server CPU (utime+stime from
// /proc) over the measured window after a warm-up, per stream-second.
//
//   npx tsx bench/srt.ts [--streams N] [--seconds S] [--warmup S]
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { cpuMs, killAllChildren, onLines, parseJsonObject, sleep, spawnTracked, stopChild } from './lib/proc'

const ROOT = path.resolve(__dirname, '..')
const FFMPEG = process.env.KLIVE_FFMPEG ?? 'ffmpeg'

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name)
  if (i < 0) return fallback
  const v = Number(process.argv[i + 1])
  if (!Number.isFinite(v) || v <= 0) throw new Error(`bad ${name}`)
  return v
}

async function main(): Promise<void> {
  const streams = arg('--streams', 4)
  const seconds = arg('--seconds', 20)
  const warmup = arg('--warmup', 5)
  const work = mkdtempSync(path.join(tmpdir(), 'klive-bench-srt-'))
  process.on('exit', () => {
    killAllChildren()
    rmSync(work, { recursive: true, force: true })
  })
  const ts = path.join(work, 'clip.ts')
  const flv = path.join(work, 'clip.flv')
  const enc = spawnSync(FFMPEG, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '20',
    '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '3000k', '-maxrate', '3000k', '-bufsize', '3000k', '-g', '60', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-f', 'mpegts', ts])
  if (enc.status !== 0) throw new Error(`encoding the clip failed: ${enc.stderr}`)
  const remux = spawnSync(FFMPEG, ['-v', 'error', '-i', ts, '-c', 'copy', '-f', 'flv', flv])
  if (remux.status !== 0) throw new Error(`remuxing the clip failed: ${remux.stderr}`)

  const target = spawnTracked(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'klive-target.ts'), '127.0.0.1', '--srt'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    onLines(target.stdout, (line) => {
      const o = parseJsonObject(line)
      if (o && typeof o.port === 'number') resolve(o)
    })
    target.once('exit', () => reject(new Error('klive-target exited')))
  })
  const pid = info.pid as number
  const rtmpPort = info.port as number
  const srtPort = info.srtPort as number

  const phase = async (protocol: 'rtmp' | 'srt'): Promise<{ cpuMsPerStreamSecond: number; cpuPercent: number }> => {
    const publishers = Array.from({ length: streams }, (_, i) => {
      const entry = `0_bench${protocol === 'srt' ? 's' : 'r'}${String(i).padStart(3, '0')}`
      const out = protocol === 'rtmp'
        ? ['-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/kLive/${entry}_1`]
        : ['-f', 'mpegts', `srt://127.0.0.1:${srtPort}?streamid=#:::e=${entry},st=0,p=bench`]
      return spawnTracked(FFMPEG, ['-v', 'error', '-re', '-stream_loop', '-1', '-i', protocol === 'rtmp' ? flv : ts, '-c', 'copy', ...out], { stdio: ['ignore', 'ignore', 'inherit'] })
    })
    await sleep(warmup * 1000)
    const before = cpuMs(pid)
    const t0 = Date.now()
    await sleep(seconds * 1000)
    const used = cpuMs(pid) - before
    const wall = (Date.now() - t0) / 1000
    await Promise.all(publishers.map((p) => stopChild(p, 'SIGTERM', 3000)))
    await sleep(2000)
    return { cpuMsPerStreamSecond: used / (streams * wall), cpuPercent: (used / (wall * 1000)) * 100 }
  }

  const rtmp = await phase('rtmp')
  const srt = await phase('srt')
  await stopChild(target, 'SIGTERM', 5000)
  const row = (name: string, r: { cpuMsPerStreamSecond: number; cpuPercent: number }) => `| ${name} | ${streams} | ${r.cpuPercent.toFixed(1)} | ${r.cpuMsPerStreamSecond.toFixed(2)} |`
  console.log(`\n${streams} real-time publishers of 1280x720p30 3 Mbit/s + AAC, ${seconds} s measured after ${warmup} s (same server process, RTMP then SRT)\n`)
  console.log('| ingest | N | server CPU (% of 1 core) | CPU-ms per stream-s |')
  console.log('|---|---:|---:|---:|')
  console.log(row('RTMP (ffmpeg -f flv)', rtmp))
  console.log(row('SRT (ffmpeg libsrt, -f mpegts)', srt))
  console.log(`\nSRT / RTMP: ${(srt.cpuMsPerStreamSecond / rtmp.cpuMsPerStreamSecond).toFixed(2)}×`)
  console.log(JSON.stringify({ streams, seconds, rtmp, srt }))
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
