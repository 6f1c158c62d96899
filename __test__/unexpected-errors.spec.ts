/**
 * Bugs that escape their owner must not end the process: the unhandled rejection the review
 * found (a rendition name Kaltura sends that is not `<entry>_<digits>`, with recording on),
 * and the process-wide guard for whatever else escapes (an unhandled rejection, a listener
 * that throws) — logged, listed in /diagnostics/errors, and the server keeps serving.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { validateConfig } from '../src/config';
import { startDaemon } from '../src/daemon';
import { DEMO_ENTRY_TOKEN, MEDIA_SERVER_ADMIN_SECRET, startKalturaEmulator } from '../src/dev';
import { createLogger } from '../src/log';
import { ADMIN_TOKEN, OpsClient } from './helpers/control-plane';
import { FLAVOR, fixturesWith, until, waitForSegments } from './helpers/hls';
import { clip, publishFile, tempDir } from './helpers/media';

const ENTRY = '0_recname1';
const ODD_RENDITION = `${ENTRY}_audio`;

/**
 * Kaltura as the daemon sees it, with one rendition renamed in the conversion profile: an HTTP
 * relay to the emulator that rewrites the served XML (the only fault it injects).
 */
async function renamingRelay(target: string, from: string, to: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      const upstream = request(`${target}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          let text = Buffer.concat(chunks);
          if (/wowza_liveconversionprofile/i.test(req.url ?? '')) text = Buffer.from(text.toString('utf8').split(`<StreamName>${from}</StreamName>`).join(`<StreamName>${to}</StreamName>`));
          res.writeHead(answer.statusCode ?? 502, { ...answer.headers, 'content-length': String(text.length) });
          res.end(text);
        });
      });
      upstream.on('error', () => res.destroy());
      upstream.end(Buffer.concat(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

test('a rendition name Kaltura sends that is not <entry>_<digits>: a recording error for it, the process lives, the rest records and plays', async (t) => {
  const emulator = await startKalturaEmulator({ fixtures: fixturesWith([{ id: ENTRY, flavorParamsIds: [FLAVOR.source, FLAVOR.audioOnly], recordStatus: 1 }]) });
  t.teardown(() => emulator.stop());
  const relay = await renamingRelay(emulator.url, `${ENTRY}_${FLAVOR.audioOnly}`, ODD_RENDITION);
  t.teardown(() => relay.close());
  const lines: string[] = [];
  const config = validateConfig({
    kaltura: { serviceUrl: relay.url, adminSecret: MEDIA_SERVER_ADMIN_SECRET, heartbeatIntervalSeconds: 0 },
    hostname: 'klive-odd-names',
    rtmp: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN },
    recording: { directory: tempDir('odd-names-rec'), segmentDurationSeconds: 60 },
  });
  const daemon = await startDaemon(config, { logger: createLogger({ level: 'info', format: 'json', sink: { write: (l: string) => lines.push(l) } }) });
  t.teardown(() => daemon.stop());
  const media = await clip(tempDir('odd-names'), 30);
  const publisher = publishFile(`rtmp://127.0.0.1:${daemon.rtmpPort}/kLive/?p=102&e=${ENTRY}&i=0&t=${DEMO_ENTRY_TOKEN}/${ENTRY}_1`, media, 60_000);
  t.teardown(() => publisher.child.kill('SIGKILL'));

  const origin = `http://127.0.0.1:${daemon.rtmpPort}`;
  await waitForSegments(origin, ODD_RENDITION, 1, 60_000);
  await waitForSegments(origin, `${ENTRY}_${FLAVOR.source}`, 1, 60_000);
  await until('the good rendition recording', 30_000, () => daemon.ingest.recordings().some((r) => r.name === `${ENTRY}_${FLAVOR.source}` && r.live));
  t.false(daemon.ingest.recordings().some((r) => r.name === ODD_RENDITION), 'the odd rendition is not recorded (nothing to deliver it to)');
  const ops = new OpsClient(daemon.controlPlane?.url ?? '');
  const errors = await until('the recording error listed', 10_000, async () => {
    const list = (await ops.get('/diagnostics/errors', ADMIN_TOKEN)).json<{ errors: Array<{ kind: string; message: string }> }>().errors;
    return list.some((e) => e.kind === 'recording') ? list : undefined;
  });
  t.true(errors.some((e) => e.kind === 'recording' && e.message.includes(`"${ODD_RENDITION}" is not <entryId>_<flavorParamsId>`)), JSON.stringify(errors));
  t.false(errors.some((e) => e.kind === 'other'), 'nothing escaped to the process guard');
});

test('an unhandled rejection and a throwing listener in a daemon process: logged, listed, and it keeps serving', async (t) => {
  const fixture = join(__dirname, 'fixtures', 'unhandled-rejection.ts');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KLIVE_')));
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  t.teardown(() => clearTimeout(killer));
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const ready = await new Promise<{ publishUrl: string; admin: string; token: string }>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{"ready":true'));
      if (line) resolve(JSON.parse(line) as { publishUrl: string; admin: string; token: string });
    });
    void exited.then((code) => reject(new Error(`the daemon exited (${code}): ${stderr}\n${stdout}`)));
  });
  const logLine = (where: string) =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level?: string; msg?: string; where?: string; error?: { message?: string } })
      .find((r) => r.msg === 'unexpected error (a bug): the server keeps running' && r.where === where);
  t.like(logLine('unhandled promise rejection'), { level: 'error', error: { message: 'a bug nobody caught' } });

  // It still serves: a publish goes through, though a connect listener throws each time.
  const media = await clip(tempDir('guard'), 3);
  const published = await publishFile(ready.publishUrl.split('0_demo1234').join('0_demopass'), media, 30_000).done;
  t.is(published.code, 0, published.stderr);
  t.like(logLine("'connect' event listener"), { level: 'error', error: { message: 'a listener that throws' } });
  const ops = new OpsClient(ready.admin);
  const errors = (await ops.get('/diagnostics/errors', ready.token)).json<{ errors: Array<{ kind: string; message: string }> }>().errors;
  t.true(errors.some((e) => e.kind === 'other' && e.message === 'unhandled promise rejection: a bug nobody caught'), JSON.stringify(errors));
  t.true(errors.some((e) => e.kind === 'other' && e.message === "'connect' event listener: a listener that throws"));

  child.kill('SIGTERM');
  t.is(await exited, 0, stderr);
});
