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

export interface ServerTuning {
  /** klive: RtmpServerOptions.readPacingMs (unset = the production default). */
  kliveReadPacingMs?: number
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
      ], {
        cwd: root,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      onLines(child.stderr, stderr.push)
      try {
        const info = await readyLine(child, 'klive-target', 30_000)
        return handle(name, child, num(info, 'port'), `klive-server ${str(info, 'version') ?? '?'} (native core)`, stderr, 'SIGTERM')
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
          '    application live { live on; }',
          '  }',
          '}',
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
      } catch (err) {
        await stopChild(child, 'SIGKILL', 1000)
        throw err
      }
      exited.catch(() => undefined)
      return handle(name, child, port, `${nginxVersion()} + libnginx-mod-rtmp`, stderr, 'SIGTERM')
    }
    case 'nms': {
      const port = await freePort(HOST)
      const dir = path.join(workDir, `nms-${port}`)
      mkdirSync(dir, { recursive: true })
      const child = spawnTracked(process.execPath, [path.join(root, 'bench', 'nms-target.js'), String(port), dir, HOST], {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      onLines(child.stderr, stderr.push)
      try {
        const info = await readyLine(child, 'nms-target', 20_000)
        return handle(name, child, port, `node-media-server ${str(info, 'version') ?? '?'}`, stderr, 'SIGTERM')
      } catch (err) {
        await stopChild(child, 'SIGKILL', 1000)
        throw new Error(`${(err as Error).message}\n${stderr.text()}`)
      }
    }
  }
}
