// Attack benchmark (issue #12): how many simultaneous slow-loris and garbage connections
// klive-server and nginx-rtmp hold, and what they cost in server memory, in the same run.
//
//   npm run bench:attack -- [--connections 2000] [--servers klive,nginx] [--out bench/out/attack.md]
//
// Per server (fresh process each): idle RSS, then N slow-loris connections (C0 and 100 bytes of
// C1, then one more byte every 2 s), then N garbage connections (a full handshake, then a chunk
// header announcing a 16 MiB message on a chunk stream and one random byte every 2 s), each
// set measured 4 s after its last connection opened: connections the server still holds
// (open from the client's side) and RSS growth per 1000 held. Then all are closed and RSS read
// once more. Attackers connect from 127.0.0.2… (100 per address, klive's default per-address
// cap), klive's global cap raised so both servers may hold every connection; klive closes them
// later by its deadlines (10 s handshake, 10 s connect), which this window is before.
import { randomBytes } from 'node:crypto'
import { writeFileSync, mkdirSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { memory, sleep } from './lib/proc'
import { SERVER_LABELS, startServer, unavailable, type ServerName, type ServerHandle } from './lib/servers'

const ROOT = path.resolve(__dirname, '..')
const PER_ADDRESS = 100

interface Row {
  server: string
  baseMiB: number
  slowHeld: number
  slowMiB: number
  garbageHeld: number
  garbageMiB: number
  afterMiB: number
}

function open(port: number, i: number): Promise<Socket | undefined> {
  const localAddress = `127.0.${2 + Math.floor(i / PER_ADDRESS / 250)}.${2 + (Math.floor(i / PER_ADDRESS) % 250)}`
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', localAddress })
    s.once('connect', () => resolve(s))
    s.once('error', () => resolve(undefined))
    s.on('error', () => undefined)
  })
}

/** Runs `job` for 0..n-1, `width` at a time. */
async function pool<T>(n: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n)
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) {
      const i = next++
      out[i] = await job(i)
    }
  }))
  return out
}

function handshake(s: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    let got = 0
    const timer = setTimeout(() => done(false), 10_000)
    const onData = (d: Buffer) => {
      got += d.length
      if (got >= 1 + 1536 * 2) done(true)
    }
    const done = (ok: boolean) => {
      clearTimeout(timer)
      s.off('data', onData)
      if (ok) s.write(Buffer.alloc(1536))
      resolve(ok)
    }
    s.on('data', onData)
    s.once('close', () => done(false))
    s.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)]))
  })
}

const isOpen = (s: Socket | undefined): s is Socket => s !== undefined && !s.destroyed && !s.readableEnded

async function attack(server: ServerHandle, n: number): Promise<Row> {
  const rssMiB = () => memory(server.pid).rssKiB / 1024
  await sleep(1500)
  const base = rssMiB()
  const trickle: Socket[] = []
  const timer = setInterval(() => {
    for (const s of trickle) if (isOpen(s)) s.write(randomBytes(1))
  }, 2000)
  try {
    const slow = await pool(n, 200, async (i) => {
      const s = await open(server.port, i)
      if (!s) return undefined
      s.on('close', () => undefined)
      s.resume()
      s.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(100)]))
      trickle.push(s)
      return s
    })
    await sleep(4000)
    const slowHeld = slow.filter(isOpen).length
    const slowMiB = rssMiB() - base
    const garbage = await pool(n, 100, async (i) => {
      const s = await open(server.port, n + i)
      if (!s) return undefined
      if (!(await handshake(s))) return s
      s.resume()
      const header = Buffer.from([3, 0, 0, 0, 0xff, 0xff, 0xff, 20, 0, 0, 0, 0])
      s.write(Buffer.concat([header, randomBytes(64)]))
      trickle.push(s)
      return s
    })
    await sleep(4000)
    const garbageHeld = garbage.filter(isOpen).length
    const garbageMiB = rssMiB() - base - slowMiB
    for (const s of [...slow, ...garbage]) s?.destroy()
    await sleep(3000)
    return { server: server.version, baseMiB: base, slowHeld, slowMiB, garbageHeld, garbageMiB, afterMiB: rssMiB() - base }
  } finally {
    clearInterval(timer)
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { connections: { type: 'string' }, servers: { type: 'string' }, out: { type: 'string' } } })
  const n = Number(values.connections ?? 2000)
  const names = (values.servers ?? 'klive,nginx').split(',') as ServerName[]
  const work = path.join(ROOT, 'bench', 'out', 'attack')
  mkdirSync(work, { recursive: true })
  const rows: Row[] = []
  for (const name of names) {
    const why = unavailable(name, ROOT)
    if (why) {
      console.error(`${SERVER_LABELS[name]}: skipped (${why})`)
      continue
    }
    const server = await startServer(name, ROOT, work, name === 'klive' ? { kliveArgs: ['--max-connections', String(4 * n)] } : {})
    try {
      rows.push(await attack(server, n))
    } finally {
      await server.stop()
    }
  }
  const per1000 = (mib: number, held: number) => (held === 0 ? '—' : ((mib / held) * 1000).toFixed(2))
  const md = [
    `## Attack: ${n} slow-loris + ${n} garbage connections (\`npm run bench:attack -- --connections ${n}\`)`,
    '',
    '| Server | Idle RSS | Slow-loris held | RSS Δ | per 1000 held | Garbage held | RSS Δ | per 1000 held | RSS Δ after all closed |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.server} | ${r.baseMiB.toFixed(1)} MiB | ${r.slowHeld} | ${r.slowMiB.toFixed(2)} MiB | ${per1000(r.slowMiB, r.slowHeld)} MiB | ${r.garbageHeld} | ${r.garbageMiB.toFixed(2)} MiB | ${per1000(r.garbageMiB, r.garbageHeld)} MiB | ${r.afterMiB.toFixed(2)} MiB |`),
    '',
  ].join('\n')
  console.log(md)
  if (values.out) writeFileSync(values.out, md)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
