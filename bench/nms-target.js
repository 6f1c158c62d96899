// Benchmark target: node-media-server (RTMP only, no HTTP/admin, no recording, quiet log).
// usage: node bench/nms-target.js PORT DATA_DIR [HOST]
// Prints {"port":…,"pid":…} on stdout once listening; SIGTERM/SIGINT stop it.
'use strict'

const path = require('node:path')

const port = Number(process.argv[2])
const dataDir = process.argv[3]
const host = process.argv[4] || '127.0.0.1'
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !dataDir) {
  process.stderr.write('usage: node bench/nms-target.js PORT DATA_DIR [HOST]\n')
  process.exit(2)
}

const NodeMediaServer = require('node-media-server')
const logger = require('node-media-server/src/core/logger.js')
const nmsPackage = require('node-media-server/package.json')

const config = {
  bind: host,
  rtmp: { port },
  // No http/https/rtmps keys: those listeners are not created.
  webadmin: { enable: false },
  notify: { url: '' },
  auth: { play: false, publish: false, secret: '' },
  store: { path: path.join(dataDir, 'store'), maxHistory: 1000 },
  record: { auto: false, path: path.join(dataDir, 'record') },
}

const nms = new NodeMediaServer(config, path.join(dataDir, 'config.json'))
// The constructor forces the shared logger to "debug"; keep the benchmark quiet.
logger.level = 'error'

const tcp = nms.rtmpServer.tcpServer
tcp.once('listening', () => {
  process.stdout.write(JSON.stringify({ port, pid: process.pid, version: nmsPackage.version }) + '\n')
})
nms.run().catch((err) => {
  process.stderr.write(`nms-target: ${err && err.stack ? err.stack : String(err)}\n`)
  process.exit(1)
})

let stopping = false
function stop() {
  if (stopping) return
  stopping = true
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
