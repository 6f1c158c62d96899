/**
 * The transcoders' unix sockets as a local attacker would meet them: a private runtime
 * directory (0700, swept when stale, removed at stop), sockets 0600, and the core's peer check
 * (a process of another uid is refused even where it can reach the socket). The foreign uid
 * is real: `setpriv` runs ffmpeg as `nobody` (needs root; skipped otherwise).
 */
import test from 'ava';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../src/config';
import { startDaemon } from '../src/daemon';
import { MEDIA_SERVER_ADMIN_SECRET, startKalturaEmulator } from '../src/dev';
import { RtmpIngest } from '../src/index';
import { createLogger } from '../src/log';
import { defaultStateRoot, RuntimeDirectory, runtimeBase } from '../src/paths';
import { loadConfig } from '../src/config';
import { fixturesWith, until } from './helpers/hls';
import { FFMPEG, clip, publishFile, run, start, tempDir } from './helpers/media';

const isRoot = process.geteuid?.() === 0;
const rootTest = isRoot ? test : test.skip;
const NOBODY = 65534;

/** ffmpeg run as uid/gid 65534 (another user than the server's). */
function asNobody(args: string[], timeoutMs = 30_000) {
  return run('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', FFMPEG, '-hide_banner', '-loglevel', 'error', ...args], timeoutMs);
}

const mode = (path: string) => statSync(path).mode & 0o777;

test('default directories: state outside /tmp (root: /var/lib, users: XDG), runtime under XDG_RUNTIME_DIR or /run; --dev apart', (t) => {
  t.is(defaultStateRoot({ uid: 0, env: { XDG_STATE_HOME: '/x' } }), '/var/lib/klive-server');
  t.is(defaultStateRoot({ uid: 1000, env: { XDG_STATE_HOME: '/home/u/.state', HOME: '/home/u' } }), '/home/u/.state/klive-server');
  t.is(defaultStateRoot({ uid: 1000, env: { XDG_STATE_HOME: 'relative', HOME: '/home/u' } }), '/home/u/.local/state/klive-server');
  t.is(runtimeBase({ uid: 1000, env: { XDG_RUNTIME_DIR: '/run/user/1000' } }), '/run/user/1000/klive-server');
  t.is(runtimeBase({ uid: 0, env: {} }), '/run/klive-server');
  t.is(runtimeBase({ uid: 1000, env: {} }), undefined);
  const prod = loadConfig({ env: { KLIVE_SERVICE_URL: 'https://k.example', KLIVE_ADMIN_SECRET: 's', KLIVE_AUTH_STALE_ADMIT_SECONDS: '600' } });
  t.is(prod.recording.directory, join(defaultStateRoot(), 'recordings'));
  t.is(prod.recording.stateDirectory, join(defaultStateRoot(), 'recordings', '.state'));
  t.false(prod.recording.directory.startsWith(tmpdir()));
  t.like(prod.auth, { staleAdmitSeconds: 600, attemptsPerIpPerMinute: 60, attemptsPerMinute: 600 });
  const dev1 = loadConfig({ dev: true, env: {} });
  const dev2 = loadConfig({ dev: true, env: {} });
  t.true(dev1.recording.directory.startsWith(join(tmpdir(), 'klive-server-dev')));
  t.not(dev1.recording.directory, dev2.recording.directory, 'each dev daemon its own state');
});

test('runtime directory: private, its own run directory, stale ones swept, removed at stop', (t) => {
  const base = join(tempDir('runtime'), 'klive-server');
  const first = RuntimeDirectory.create({ base });
  t.is(mode(base), 0o700);
  t.is(mode(first.path), 0o700);
  t.regex(first.path, /\/klive-server\/run-[A-Za-z0-9]{6}$/);

  // What a crashed daemon leaves: a run directory whose lock nobody holds.
  const stale = join(base, 'run-crashd');
  mkdirSync(join(stale, 'entry'), { recursive: true });
  writeFileSync(join(stale, '.lock'), '');
  writeFileSync(join(stale, 'entry', 'x.in.sock'), '');
  // One being created right now (no lock file yet) is spared; an old one without a lock is not.
  const fresh = join(base, 'run-fresh0');
  mkdirSync(fresh);
  const old = join(base, 'run-old000');
  mkdirSync(old);
  utimesSync(old, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
  // A base left 0755 by hand is made private again.
  chmodSync(base, 0o755);

  const second = RuntimeDirectory.create({ base });
  t.is(mode(base), 0o700);
  t.false(existsSync(stale), 'stale run directory swept');
  t.false(existsSync(old));
  t.true(existsSync(fresh));
  t.true(existsSync(first.path), 'a live daemon’s directory is kept (its lock is held)');
  const sub = second.subdirectory('0_abcdefgh_1');
  t.is(mode(sub), 0o700);
  second.remove();
  first.remove();
  t.false(existsSync(second.path));
  t.false(existsSync(first.path));
  // A base that is a symlink (someone else's directory) is not used.
  const elsewhere = tempDir('runtime-elsewhere');
  const linked = join(tempDir('runtime-link'), 'klive-server');
  symlinkSync(elsewhere, linked);
  const fallback = RuntimeDirectory.create({ base: linked });
  t.true(fallback.path.startsWith(join(tmpdir(), 'klive-server-run-')), fallback.path);
  t.is(mode(fallback.path), 0o700);
  fallback.remove();
});

rootTest('peer check: a reader or writer of another uid is refused even when it can reach the socket', async (t) => {
  const dir = tempDir('peer');
  // Reachable on purpose (the daemon's runtime directory would not be): the check must hold alone.
  chmodSync(dir, 0o755);
  const ingest = await RtmpIngest.start({ host: '127.0.0.1', port: 0 });
  t.teardown(() => ingest.close());
  const warnings: string[] = [];
  ingest.on('warning', (e) => warnings.push(e.message));

  // An FLV source (how a transcoder hands a rendition back).
  const sourcePath = join(dir, 'rendition.out.sock');
  ingest.attachFlvSource('0_peercred_45', sourcePath);
  t.is(mode(sourcePath), 0o600, 'created owner-only');
  chmodSync(sourcePath, 0o666);
  const lavfi = ['-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=10', '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-f', 'flv'];
  const foreignWriter = await asNobody([...lavfi, `unix:${sourcePath}`]);
  t.not(foreignWriter.code, 0, 'the foreign writer was cut off');
  await until('the refusal reported', 10_000, () => warnings.some((w) => w.includes(`refused a local peer of uid ${NOBODY}`) && w.includes('0_peercred_45')));
  t.false(ingest.stats().streams.some((s) => s.name === '0_peercred_45'), 'it never published');
  const live = ingest.waitFor('codecInfo', (e) => e.streamName === '0_peercred_45');
  const ownWriter = start(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-re', ...lavfi, `unix:${sourcePath}`]);
  await live;
  await ownWriter.done;

  // A socket sink (how a transcoder reads the source).
  const media = await clip(dir, 20);
  const publisher = publishFile(`rtmp://127.0.0.1:${ingest.port}/kLive/0_peercred_1`, media, 60_000);
  await until('the source live', 20_000, () => ingest.stats().streams.some((s) => s.name === '0_peercred_1'));
  const sinkPath = join(dir, 'source.in.sock');
  ingest.attachSocketSink('0_peercred_1', sinkPath);
  t.is(mode(sinkPath), 0o600);
  chmodSync(sinkPath, 0o666);
  const foreignReader = await asNobody(['-i', `unix:${sinkPath}`, '-t', '1', '-f', 'null', '-']);
  t.not(foreignReader.code, 0, 'the foreign reader got no stream');
  await until('the refusal reported', 10_000, () => warnings.some((w) => w.includes(`refused a local peer of uid ${NOBODY}`) && w.includes('0_peercred_1')));
  const ownReader = await run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-i', `unix:${sinkPath}`, '-t', '1', '-f', 'null', '-'], 30_000);
  t.is(ownReader.code, 0, ownReader.stderr);
  publisher.child.kill('SIGKILL');
  await publisher.done;
});

rootTest('the daemon’s transcoder sockets: 0600 in its private runtime directory, unreachable for another uid, removed at stop', async (t) => {
  const emulator = await startKalturaEmulator({ fixtures: fixturesWith([{ id: '0_runtime1', flavorParamsIds: [32, 45] }]) });
  t.teardown(() => emulator.stop());
  const config = validateConfig({
    kaltura: { serviceUrl: emulator.url, adminSecret: MEDIA_SERVER_ADMIN_SECRET, heartbeatIntervalSeconds: 0 },
    hostname: 'klive-runtime-test-node',
    rtmp: { host: '127.0.0.1', port: 0 },
    recording: { enabled: false, directory: tempDir('runtime-rec') },
  });
  const daemon = await startDaemon(config, { logger: createLogger({ level: 'error', sink: { write: () => undefined } }) });
  t.teardown(() => daemon.stop());
  const runtime = daemon.runtimeDirectory;
  t.is(mode(runtime), 0o700);
  const dir = tempDir('runtime-media');
  const publisher = publishFile(`rtmp://127.0.0.1:${daemon.rtmpPort}/kLive/?p=102&e=0_runtime1&i=0&t=demotoken/0_runtime1_1`, await clip(dir, 30), 60_000);
  const sockets = await until('the transcoder sockets', 30_000, () => {
    const found = walk(runtime).filter((p) => lstatSync(p).isSocket());
    return found.length >= 2 ? found : undefined;
  });
  for (const s of sockets) t.is(mode(s), 0o600, s);
  for (const d of walk(runtime).filter((p) => lstatSync(p).isDirectory())) t.is(mode(d), 0o700, d);
  const sink = sockets.find((s) => s.endsWith('.in.sock')) as string;
  const foreign = await asNobody(['-i', `unix:${sink}`, '-t', '1', '-f', 'null', '-']);
  t.not(foreign.code, 0);
  t.regex(foreign.stderr, /Permission denied/);
  publisher.child.kill('SIGKILL');
  await publisher.done;
  await daemon.stop();
  t.false(existsSync(runtime), 'removed at stop');
});

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    out.push(path);
    if (lstatSync(path).isDirectory()) out.push(...walk(path));
  }
  return out;
}
