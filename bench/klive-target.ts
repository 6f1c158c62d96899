// Benchmark target: the klive-server native RTMP core with a control plane that accepts
// every request. Prints {"port":…,"pid":…} on stdout once listening; SIGTERM/SIGINT shut it
// down cleanly. Run as `node --import tsx bench/klive-target.ts [host] [readPacingMs]` so
// that the pid measured by the harness is the process that hosts the server. Every other
// option keeps its production default.
import { startRtmpServer, nativeVersion, type IngestEvent, type RtmpServer, type RtmpServerOptions } from '../index'

async function main(): Promise<void> {
  const host = process.argv[2] ?? '127.0.0.1'
  const options: RtmpServerOptions = { host, port: 0 }
  if (process.argv[3] !== undefined) {
    const pacing = Number(process.argv[3])
    if (!Number.isInteger(pacing) || pacing < 0) throw new Error(`bad readPacingMs '${process.argv[3]}'`)
    options.readPacingMs = pacing
  }
  let server: RtmpServer | undefined
  let published = 0
  const pending: number[] = []
  const onEvent = (event: IngestEvent): void => {
    switch (event.type) {
      case 'connect':
      case 'publish':
      case 'play':
        if (event.type === 'publish') published++
        if (server) server.decide(event.requestId, { accept: true })
        else pending.push(event.requestId) // an event raced the promise resolution
        break
      default:
        break
    }
  }
  server = await startRtmpServer(options, onEvent)
  for (const id of pending.splice(0)) server.decide(id, { accept: true })
  const running = server
  process.stdout.write(JSON.stringify({ port: running.port, pid: process.pid, version: nativeVersion() }) + '\n')

  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    const force = setTimeout(() => process.exit(1), 5000)
    force.unref()
    running
      .shutdown(1000)
      .then(() => {
        process.stderr.write(`klive-target: shut down after ${published} publishes\n`)
        process.exit(0)
      })
      .catch((err: unknown) => {
        process.stderr.write(`klive-target: shutdown failed: ${String(err)}\n`)
        process.exit(1)
      })
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  // If the harness goes away (stdin closes), exit too.
  process.stdin.on('end', stop)
  process.stdin.on('error', stop)
  process.stdin.resume()
}

main().catch((err: unknown) => {
  process.stderr.write(`klive-target: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
