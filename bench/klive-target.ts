// Benchmark target: the klive-server native RTMP core with a control plane that accepts
// every request. Prints {"port":…,"pid":…} on stdout once listening; SIGTERM/SIGINT shut it
// down cleanly. Run as `node --import tsx bench/klive-target.ts [host] [readPacingMs]
// [--hls-target-ms MS] [--record-dir DIR]` so that the pid measured by the harness is the
// process that hosts the server. Every other option keeps its production default.
//
// With --hls-target-ms, every accepted publish is also packaged to HLS
// (`server.startHls(name, { targetDurationMs })`, called right after `decide(accept)`);
// playlists and segments are served on the RTMP port under /kLive/<stream>/. In that mode
// a line `hls` on stdin answers one JSON line `{"reply":"hls","streams":[…hlsStreams()]}`.
//
// With --record-dir, every accepted publish is also recorded
// (`server.startRecording(name, { dir: DIR/<name> })` right after `decide(accept)` (and
// after startHls), production defaults otherwise: 900 s segments, a fragment every 2 s).
// Segment store (issue #16): --hls-dir DIR puts HLS segments past the live edge in DIR
// (cleared at start); --hls-memory-budget BYTES sets the global memory budget of the live
// edges; --dvr-window-ms MS gives every packaged stream a DVR window. A line `store` on stdin
// answers `{"reply":"store",…hlsStore()}`. --record-segment-ms MS sets the recording segment length.
// With --srt, the SRT listener is on too (an OS-chosen UDP port, printed as "srtPort"); SRT
// peers are accepted like RTMP publishers (stream `<entry>_1` from the `#:::e=<entry>` stream id).
// Lines on stdin (any mode):
//   `rec`          → `{"reply":"rec","recordings":[…recordings()],"segmentEvents":N,
//                     "segments":[last 20 recordingSegment events],"errors":[…],
//                     "bytesIn":Σ publishers' bytesIn,"mediaBytes":Σ streams' bytes,"publishers":N}`
//   `rec-stop NAME` → stopRecording(NAME), `{"reply":"rec-stop NAME","ok":bool,"bytesIn":…,"mediaBytes":…}`
//                     (bytes received on NAME's publishing connection / stream so far, read just before)
import * as path from 'node:path'
import { startRtmpServer, nativeVersion, type IngestEvent, type RtmpServer, type RtmpServerOptions } from '../index'

interface Argv {
  positional: string[]
  hlsTargetMs?: number
  recordDir?: string
  hlsDir?: string
  hlsMemoryBudget?: number
  dvrWindowMs?: number
  recordSegmentMs?: number
  srt?: boolean
}

function parseArgv(argv: string[]): Argv {
  const positional: string[] = []
  let hlsTargetMs: number | undefined
  let recordDir: string | undefined
  let hlsDir: string | undefined
  let hlsMemoryBudget: number | undefined
  let dvrWindowMs: number | undefined
  let recordSegmentMs: number | undefined
  let srt = false
  const count = (flag: string, text: string | undefined): number => {
    const v = Number(text)
    if (!Number.isInteger(v) || v < 0) throw new Error(`bad ${flag} '${text}'`)
    return v
  }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--srt') {
      srt = true
    } else if (argv[i] === '--hls-dir') {
      hlsDir = argv[++i]
      if (!hlsDir) throw new Error('--hls-dir needs a directory')
    } else if (argv[i] === '--hls-memory-budget') {
      hlsMemoryBudget = count('--hls-memory-budget', argv[++i])
    } else if (argv[i] === '--record-segment-ms') {
      recordSegmentMs = count('--record-segment-ms', argv[++i])
    } else if (argv[i] === '--dvr-window-ms') {
      dvrWindowMs = count('--dvr-window-ms', argv[++i])
    } else if (argv[i] === '--hls-target-ms') {
      hlsTargetMs = Number(argv[++i])
      if (!Number.isInteger(hlsTargetMs) || hlsTargetMs < 1000) throw new Error(`bad --hls-target-ms '${argv[i]}'`)
    } else if (argv[i] === '--record-dir') {
      recordDir = argv[++i]
      if (!recordDir) throw new Error('--record-dir needs a directory')
    } else {
      positional.push(argv[i])
    }
  }
  return { positional, hlsTargetMs, recordDir, hlsDir, hlsMemoryBudget, dvrWindowMs, recordSegmentMs, srt }
}

type RecordingSegmentEvent = Extract<IngestEvent, { type: 'recordingSegment' }>

async function main(): Promise<void> {
  const { positional, hlsTargetMs, recordDir, hlsDir, hlsMemoryBudget, dvrWindowMs, recordSegmentMs, srt } = parseArgv(process.argv.slice(2))
  const host = positional[0] ?? '127.0.0.1'
  const options: RtmpServerOptions = { host, port: 0 }
  if (srt) {
    options.srtHost = host
    options.srtPort = 0
  }
  if (hlsDir !== undefined) options.hlsDirectory = hlsDir
  if (hlsMemoryBudget !== undefined) options.hlsMemoryBudgetBytes = hlsMemoryBudget
  if (hlsTargetMs !== undefined) options.hostname = 'bench'
  if (positional[1] !== undefined) {
    const pacing = Number(positional[1])
    if (!Number.isInteger(pacing) || pacing < 0) throw new Error(`bad readPacingMs '${positional[1]}'`)
    options.readPacingMs = pacing
  }
  let server: RtmpServer | undefined
  let published = 0
  let hlsErrors = 0
  let recordErrors = 0
  let segmentEvents = 0
  const segments: RecordingSegmentEvent[] = []
  const recordingErrors: string[] = []
  const pending: Array<{ requestId: number; streamName?: string }> = []
  const accept = (s: RtmpServer, requestId: number, streamName?: string): void => {
    s.decide(requestId, { accept: true })
    if (streamName !== undefined && hlsTargetMs !== undefined) {
      try {
        s.startHls(streamName, { targetDurationMs: hlsTargetMs, ...(dvrWindowMs === undefined ? {} : { dvrWindowMs }) })
      } catch (err) {
        if (hlsErrors++ < 5) process.stderr.write(`klive-target: startHls(${streamName}) failed: ${String(err)}\n`)
      }
    }
    if (streamName !== undefined && recordDir !== undefined) {
      try {
        s.startRecording(streamName, { dir: path.join(recordDir, streamName), ...(recordSegmentMs === undefined ? {} : { segmentDurationMs: recordSegmentMs }) })
      } catch (err) {
        if (recordErrors++ < 5) process.stderr.write(`klive-target: startRecording(${streamName}) failed: ${String(err)}\n`)
      }
    }
  }
  const onEvent = (event: IngestEvent): void => {
    switch (event.type) {
      case 'connect':
      case 'publish':
      case 'play': {
        const streamName = event.type === 'publish' ? event.streamName : undefined
        if (event.type === 'publish') published++
        if (server) accept(server, event.requestId, streamName)
        else pending.push({ requestId: event.requestId, streamName }) // an event raced the promise resolution
        break
      }
      case 'recordingSegment':
        segmentEvents++
        segments.push(event)
        if (segments.length > 20) segments.shift()
        break
      case 'recordingError':
        if (recordingErrors.length < 20) recordingErrors.push(`${event.streamName}: ${event.message}`)
        break
      default:
        break
    }
  }
  server = await startRtmpServer(options, onEvent)
  for (const p of pending.splice(0)) accept(server, p.requestId, p.streamName)
  const running = server
  process.stdout.write(JSON.stringify({ port: running.port, srtPort: running.srtPort ?? null, pid: process.pid, version: nativeVersion(), hls: hlsTargetMs !== undefined, record: recordDir !== undefined }) + '\n')
  const reply = (obj: Record<string, unknown>): void => {
    process.stdout.write(JSON.stringify(obj) + '\n')
  }
  const recReply = (): Record<string, unknown> => {
    const stats = running.stats()
    return {
      reply: 'rec',
      recordings: running.recordings(),
      segmentEvents,
      segments,
      errors: recordingErrors,
      bytesIn: stats.connections.filter((c) => c.role === 'publisher').reduce((a, c) => a + c.bytesIn, 0),
      mediaBytes: stats.streams.reduce((a, st) => a + st.bytes, 0),
      publishers: stats.streams.length,
    }
  }

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
  let buffered = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk: string) => {
    buffered += chunk
    let nl = buffered.indexOf('\n')
    while (nl >= 0) {
      const line = buffered.slice(0, nl).trim()
      buffered = buffered.slice(nl + 1)
      if (line === 'hls') reply({ reply: 'hls', streams: running.hlsStreams() })
      else if (line === 'store') reply({ reply: 'store', ...running.hlsStore() })
      else if (line === 'rec') reply(recReply())
      else if (line.startsWith('rec-stop ')) {
        const name = line.slice('rec-stop '.length)
        const stats = running.stats()
        const conn = stats.connections.find((c) => c.role === 'publisher' && c.streamName === name)
        const stream = stats.streams.find((st) => st.name === name)
        reply({ reply: line, ok: running.stopRecording(name), bytesIn: conn?.bytesIn ?? null, mediaBytes: stream?.bytes ?? null })
      }
      nl = buffered.indexOf('\n')
    }
  })
}

main().catch((err: unknown) => {
  process.stderr.write(`klive-target: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
