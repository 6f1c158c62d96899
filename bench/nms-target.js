// Benchmark target: node-media-server (RTMP only, no HTTP/admin, no recording, quiet log).
// usage: node bench/nms-target.js PORT DATA_DIR [HOST] [--hls HLS_DIR --http-port PORT [--hls-time S]]
// Prints {"port":…,"pid":…} on stdout once listening; SIGTERM/SIGINT stop it.
//
// --hls: node-media-server 4.x cannot package HLS (it has no HLS muxer and, unlike 2.x, no
// ffmpeg "trans" task). Its users get HLS from an ffmpeg per stream that pulls the stream
// back over RTMP and remuxes it with `-c copy`, which is what 2.x's trans task did. In this
// mode the target does exactly that: on every postPublish it spawns
//   ffmpeg -i rtmp://HOST:PORT/<app>/<name> -c:v copy -c:a copy -f hls -hls_time S
//          -hls_list_size 10 -hls_flags delete_segments HLS_DIR/<app>/<name>/index.m3u8
// as its own child (so the harness can count its CPU), stops it on donePublish, and serves
// HLS_DIR over its HTTP server (static router /hls).
'use strict'

const path = require('node:path')
const fs = require('node:fs')
const { spawn } = require('node:child_process')

const positional = []
const flags = {}
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]
  if (a.startsWith('--')) flags[a.slice(2)] = process.argv[++i]
  else positional.push(a)
}
const port = Number(positional[0])
const dataDir = positional[1]
const host = positional[2] || '127.0.0.1'
const hlsDir = flags['hls']
const httpPort = flags['http-port'] === undefined ? undefined : Number(flags['http-port'])
const hlsTime = Number(flags['hls-time'] || 6)
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !dataDir || (hlsDir && !Number.isInteger(httpPort))) {
  process.stderr.write('usage: node bench/nms-target.js PORT DATA_DIR [HOST] [--hls HLS_DIR --http-port PORT [--hls-time S]]\n')
  process.exit(2)
}

const NodeMediaServer = require('node-media-server')
const logger = require('node-media-server/src/core/logger.js')
const nmsPackage = require('node-media-server/package.json')

const config = {
  bind: host,
  rtmp: { port },
  // No http/https/rtmps keys: those listeners are not created (HLS mode adds http + static).
  webadmin: { enable: false },
  notify: { url: '' },
  auth: { play: false, publish: false, secret: '' },
  store: { path: path.join(dataDir, 'store'), maxHistory: 1000 },
  record: { auto: false, path: path.join(dataDir, 'record') },
}
if (hlsDir) {
  fs.mkdirSync(hlsDir, { recursive: true })
  config.http = { port: httpPort }
  config.static = { router: '/hls', root: hlsDir }
}

const nms = new NodeMediaServer(config, path.join(dataDir, 'config.json'))
// The constructor forces the shared logger to "debug"; keep the benchmark quiet.
logger.level = 'error'

/** streamPath → ffmpeg child */
const transcoders = new Map()
/** Every ffmpeg child not yet exited (including those asked to stop). */
const running = new Set()
let ffmpegFailures = 0
if (hlsDir) {
  nms.on('postPublish', (session) => {
    const streamPath = session.streamPath // "/live/s0"
    const outDir = path.join(hlsDir, streamPath)
    fs.mkdirSync(outDir, { recursive: true })
    const args = [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
      '-i', `rtmp://${host}:${port}${streamPath}`,
      '-c:v', 'copy', '-c:a', 'copy', '-map', '0:a?', '-map', '0:v?',
      '-f', 'hls', '-hls_time', String(hlsTime), '-hls_list_size', '10', '-hls_flags', 'delete_segments',
      path.join(outDir, 'index.m3u8'),
    ]
    const ff = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    running.add(ff)
    let err = ''
    ff.stderr.on('data', (d) => {
      if (err.length < 2000) err += d
    })
    ff.on('error', (e) => {
      if (ffmpegFailures++ < 5) process.stderr.write(`nms-target: ffmpeg for ${streamPath}: ${e.message}\n`)
    })
    ff.on('exit', (code, signal) => {
      running.delete(ff)
      if (transcoders.get(streamPath) === ff) transcoders.delete(streamPath)
      if (!stopping && code !== 0 && signal === null && ffmpegFailures++ < 5) {
        process.stderr.write(`nms-target: ffmpeg for ${streamPath} exited ${code}: ${err.trim().slice(0, 300)}\n`)
      }
    })
    transcoders.set(streamPath, ff)
  })
  nms.on('donePublish', (session) => {
    const ff = transcoders.get(session.streamPath)
    if (ff) {
      transcoders.delete(session.streamPath)
      ff.kill('SIGTERM')
    }
  })
}

function killTranscoders() {
  for (const ff of running) {
    try {
      ff.kill('SIGKILL')
    } catch {
      // gone
    }
  }
  transcoders.clear()
  running.clear()
}
process.on('exit', killTranscoders)

const tcp = nms.rtmpServer.tcpServer
tcp.once('listening', () => {
  process.stdout.write(JSON.stringify({ port, pid: process.pid, version: nmsPackage.version, httpPort: httpPort ?? null }) + '\n')
})
nms.run().catch((err) => {
  process.stderr.write(`nms-target: ${err && err.stack ? err.stack : String(err)}\n`)
  process.exit(1)
})

let stopping = false
function stop() {
  if (stopping) return
  stopping = true
  killTranscoders()
  const force = setTimeout(() => process.exit(1), 3000)
  force.unref()
  nms
    .stop()
    .then(() => process.exit(0))
    .catch(() => process.exit(1))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.stdin.on('end', stop)
process.stdin.on('error', stop)
process.stdin.resume()
