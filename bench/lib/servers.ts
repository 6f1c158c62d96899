// The three servers under test: klive-server (native core via bench/klive-target.ts),
// nginx + libnginx-mod-rtmp, node-media-server (bench/nms-target.js).
import type { ChildProcess } from 'node:child_process'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { freePort, onLines, parseJsonObject, num, str, spawnTracked, stopChild, waitForPort, withTimeout } from './proc'

export type ServerName = 'klive' | 'nginx' | 'nms'
export const SERVER_NAMES: readonly ServerName[] = ['klive', 'nginx', 'nms']

export const SERVER_LABELS: Record<ServerName, string> = {
  klive: 'klive-server',
  nginx: 'nginx-rtmp',
  nms: 'node-media-server',
}

export const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so'
const HOST = '127.0.0.1'

export interface ServerHandle {
  name: ServerName
  pid: number
  port: number
  /** rtmp://host:port/app */
  url: string
  version: string
  child: ChildProcess
  /** HLS mode only: where playlists are served and (file-writing servers) written. */
  hls?: HlsEndpoint
  /** klive: send a command line on stdin (`hls`, `rec`, `rec-stop NAME`), resolve with its JSON reply. */
  query?(command: string, ms: number): Promise<Record<string, unknown>>
  /** Last lines the server wrote to stderr (for error reports). */
  stderrTail(): string
  alive(): boolean
  stop(): Promise<void>
}

/** Why a server cannot run here, or undefined when it can. */
export function unavailable(name: ServerName, root: string): string | undefined {
  switch (name) {
    case 'klive':
      return existsSync(path.join(root, 'klive-server.linux-x64-gnu.node'))
        ? undefined
        : 'native addon not built (run `npm run build`)'
    case 'nginx':
      if (!existsSync(NGINX_RTMP_MODULE)) return `${NGINX_RTMP_MODULE} is missing (apt-get install libnginx-mod-rtmp)`
      try {
        execFileSync('nginx', ['-v'], { stdio: 'ignore' })
      } catch {
        return 'nginx binary not found'
      }
      return undefined
    case 'nms':
      return existsSync(path.join(root, 'node_modules', 'node-media-server', 'package.json'))
        ? undefined
        : 'node-media-server is not installed (npm install)'
  }
}

export function nginxVersion(): string {
  // nginx -v prints "nginx version: nginx/1.22.1" to stderr.
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' })
  const text = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim()
  return text.replace(/^nginx version:\s*/, '') || 'nginx'
}

function tail(): { push(line: string): void; text(): string } {
  const lines: string[] = []
  return {
    push(line: string) {
      lines.push(line)
      if (lines.length > 20) lines.shift()
    },
    text: () => lines.join('\n'),
  }
}

function handle(
  name: ServerName,
  child: ChildProcess,
  port: number,
  version: string,
  stderr: { text(): string },
  stopSignal: NodeJS.Signals,
): ServerHandle {
  const pid = child.pid
  if (pid === undefined) throw new Error(`${name}: no pid`)
  return {
    name,
    pid,
    port,
    url: `rtmp://${HOST}:${port}/live`,
    version,
    child,
    stderrTail: () => stderr.text(),
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: () => stopChild(child, stopSignal, 6000),
  }
}

/** Wait for the first JSON line with a numeric `port` on the child's stdout. */
function readyLine(child: ChildProcess, name: string, ms: number): Promise<Record<string, unknown>> {
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    onLines(child.stdout, (line) => {
      const obj = parseJsonObject(line)
      if (obj && Number.isFinite(num(obj, 'port'))) resolve(obj)
    })
    child.once('exit', (code, signal) => reject(new Error(`${name} exited early (${code ?? signal})`)))
    child.once('error', reject)
  })
  return withTimeout(ready, ms, `${name} to start`)
}

export interface HlsEndpoint {
  /** URL of the media playlist of `stream` (published as rtmp://…/live/<stream>). */
  playlistUrl(stream: string): string
  /** Directory the server writes segments into (nginx, nms+ffmpeg); undefined: in memory. */
  dir?: string
  /** How the server packages HLS, for the report. */
  how: string
}

export interface HlsTuning {
  /** Segment target duration, ms. */
  targetDurationMs: number
  /** Fresh directory (tmpfs) for servers that write segment files. */
  dir: string
  /** nginx: hls_playlist_length, s (default 60). */
  playlistLengthS?: number
}

/** Line-command channel to klive-target: write `command` on stdin, await `{"reply":command,…}`. */
function replyChannel(child: ChildProcess): (command: string, ms: number) => Promise<Record<string, unknown>> {
  const waiting = new Map<string, Array<(obj: Record<string, unknown>) => void>>()
  onLines(child.stdout, (line) => {
    const obj = parseJsonObject(line)
    const reply = obj && str(obj, 'reply')
    if (!obj || !reply) return
    const queue = waiting.get(reply)
    const next = queue?.shift()
    if (next) next(obj)
  })
  return (command, ms) => {
    const answer = new Promise<Record<string, unknown>>((resolve) => {
      const queue = waiting.get(command) ?? []
      queue.push(resolve)
      waiting.set(command, queue)
    })
    child.stdin?.write(command + '\n')
    return withTimeout(answer, ms, `klive-target reply to '${command}'`)
  }
}

export interface ServerTuning {
  /** klive: RtmpServerOptions.readPacingMs (unset = the production default). */
  kliveReadPacingMs?: number
  /** Package every published stream to HLS. */
  hls?: HlsTuning
  /** klive only: record every published stream into <recordDir>/<stream>/ (production defaults). */
  recordDir?: string
  /** klive only: extra klive-target arguments (e.g. `--max-connections N`). */
  kliveArgs?: string[]
}

export async function startServer(name: ServerName, root: string, workDir: string, tuning: ServerTuning = {}): Promise<ServerHandle> {
  const stderr = tail()
  switch (name) {
    case 'klive': {
      const child = spawnTracked(process.execPath, [
        '--import',
        'tsx',
        path.join('bench', 'klive-target.ts'),
        HOST,
        ...(tuning.kliveReadPacingMs === undefined ? [] : [String(tuning.kliveReadPacingMs)]),
        ...(tuning.hls === undefined ? [] : ['--hls-target-ms', String(tuning.hls.targetDurationMs)]),
        ...(tuning.recordDir === undefined ? [] : ['--record-dir', tuning.recordDir]),
        ...(tuning.kliveArgs ?? []),
      ], {
        cwd: root,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      onLines(child.stderr, stderr.push)
      try {
        const info = await readyLine(child, 'klive-target', 30_000)
        const port = num(info, 'port')
        const h = handle(name, child, port, `klive-server ${str(info, 'version') ?? '?'} (native core)`, stderr, 'SIGTERM')
        if (tuning.hls) {
          h.hls = {
            playlistUrl: (stream) => `http://${HOST}:${port}/kLive/${encodeURIComponent(stream)}/playlist.m3u8`,
            how: `\`server.startHls(name, { targetDurationMs: ${tuning.hls.targetDurationMs} })\` on each accepted publish; segments in memory, served by the origin on the RTMP port`,
          }
        }
        h.query = replyChannel(child)
        return h
      } catch (err) {
        await stopChild(child, 'SIGKILL', 1000)
        throw new Error(`${(err as Error).message}\n${stderr.text()}`)
      }
    }
    case 'nginx': {
      const port = await freePort(HOST)
      const dir = path.join(workDir, `nginx-${port}`)
      mkdirSync(dir, { recursive: true })
      const conf = path.join(dir, 'nginx.conf')
      const hls = tuning.hls
      const httpPort = hls ? await freePort(HOST) : 0
      if (hls) mkdirSync(hls.dir, { recursive: true })
      const application = hls
        ? [
            '    application live {',
            '      live on;',
            '      hls on;',
            `      hls_path ${hls.dir};`,
            `      hls_fragment ${Math.round(hls.targetDurationMs / 1000)}s;`,
            `      hls_playlist_length ${hls.playlistLengthS ?? 60}s;`,
            '    }',
          ]
        : ['    application live { live on; }']
      // HLS mode: the same nginx serves the hls_path over HTTP (what a player would fetch).
      const http = hls
        ? [
            'http {',
            '  access_log off;',
            `  client_body_temp_path ${path.join(dir, 'body')};`,
            `  proxy_temp_path ${path.join(dir, 'proxy')};`,
            `  fastcgi_temp_path ${path.join(dir, 'fastcgi')};`,
            `  uwsgi_temp_path ${path.join(dir, 'uwsgi')};`,
            `  scgi_temp_path ${path.join(dir, 'scgi')};`,
            '  server {',
            `    listen ${HOST}:${httpPort};`,
            '    location /hls/ {',
            `      alias ${hls.dir}/;`,
            '      types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }',
            "      add_header Cache-Control 'no-cache';",
            '    }',
            '  }',
            '}',
          ]
        : []
      writeFileSync(
        conf,
        [
          `load_module ${NGINX_RTMP_MODULE};`,
          'daemon off;',
          'master_process off;',
          'worker_processes 1;',
          'worker_rlimit_nofile 16384;',
          `error_log ${path.join(dir, 'error.log')} warn;`,
          `pid ${path.join(dir, 'nginx.pid')};`,
          'events { worker_connections 8192; }',
          'rtmp {',
          '  server {',
          `    listen ${HOST}:${port};`,
          ...application,
          '  }',
          '}',
          ...http,
          '',
        ].join('\n'),
      )
      // -e: the error log used before the config is read (default is under /var/log).
      const child = spawnTracked('nginx', ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      onLines(child.stdout, stderr.push)
      onLines(child.stderr, stderr.push)
      const exited = new Promise<never>((_, reject) => {
        child.once('exit', (code, signal) => reject(new Error(`nginx exited early (${code ?? signal})\n${stderr.text()}`)))
      })
      try {
        await Promise.race([waitForPort(HOST, port, 10_000), exited])
        if (hls) await Promise.race([waitForPort(HOST, httpPort, 10_000), exited])
      } catch (err) {
        await stopChild(child, 'SIGKILL', 1000)
        throw err
      }
      exited.catch(() => undefined)
      const h = handle(name, child, port, `${nginxVersion()} + libnginx-mod-rtmp`, stderr, 'SIGTERM')
      if (hls) {
        h.hls = {
          playlistUrl: (stream) => `http://${HOST}:${httpPort}/hls/${encodeURIComponent(stream)}.m3u8`,
          dir: hls.dir,
          how: `\`hls on; hls_path ${path.dirname(hls.dir)}/…; hls_fragment ${Math.round(hls.targetDurationMs / 1000)}s; hls_playlist_length 60s;\` (segment files on tmpfs), served by the same nginx's http module`,
        }
      }
      return h
    }
    case 'nms': {
      const port = await freePort(HOST)
      const dir = path.join(workDir, `nms-${port}`)
      mkdirSync(dir, { recursive: true })
      const hls = tuning.hls
      const httpPort = hls ? await freePort(HOST) : 0
      const hlsArgs = hls ? ['--hls', hls.dir, '--http-port', String(httpPort), '--hls-time', String(Math.round(hls.targetDurationMs / 1000))] : []
      const child = spawnTracked(process.execPath, [path.join(root, 'bench', 'nms-target.js'), String(port), dir, HOST, ...hlsArgs], {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      onLines(child.stderr, stderr.push)
      try {
        const info = await readyLine(child, 'nms-target', 20_000)
        if (hls) await waitForPort(HOST, httpPort, 10_000)
        const h = handle(name, child, port, `node-media-server ${str(info, 'version') ?? '?'}`, stderr, 'SIGTERM')
        if (hls) {
          h.hls = {
            playlistUrl: (stream) => `http://${HOST}:${httpPort}/hls/live/${encodeURIComponent(stream)}/index.m3u8`,
            dir: hls.dir,
            how: `no HLS of its own: per published stream, an \`ffmpeg -i rtmp://…/live/<name> -c:v copy -c:a copy -f hls -hls_time ${Math.round(hls.targetDurationMs / 1000)} -hls_list_size 10 -hls_flags delete_segments\` child of the node-media-server process (what 2.x's trans task ran), files on tmpfs, served by its HTTP static router`,
          }
        }
        return h
      } catch (err) {
        await stopChild(child, 'SIGKILL', 1000)
        throw new Error(`${(err as Error).message}\n${stderr.text()}`)
      }
    }
  }
}
