/**
 * The package bin as a user runs it: `node bin/klive-server.js …`.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { version } from '../package.json';
import { MEDIA_SERVER_ADMIN_SECRET, demoFixtures, startKalturaEmulator } from '../src/dev';
import { until } from './helpers/hls';
import { FFMPEG, FFPROBE, clip, publishFile, run, tempDir } from './helpers/media';

const BIN = join(__dirname, '..', 'bin', 'klive-server.js');
const dir = tempDir('cli');
/** The environment without KLIVE_* settings of the machine running the tests. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KLIVE_')));

function klive(args: string[], timeoutMs = 20_000) {
  return run(process.execPath, [BIN, ...args], timeoutMs, cleanEnv);
}

test('--version and --help', async (t) => {
  const [v, h] = await Promise.all([klive(['--version']), klive(['--help'])]);
  t.is(v.code, 0);
  t.regex(v.stdout, new RegExp(`^klive-server ${version.replace(/\./g, '\\.')} \\(native core `));
  t.is(h.code, 0);
  for (const word of ['--config FILE', '--dev', '--set KEY=VALUE', 'KLIVE_SERVICE_URL', 'KLIVE_ADMIN_SECRET', 'kaltura.adminSecret']) {
    t.true(h.stdout.includes(word), word);
  }
});

test('a config file with a bad key: exit 2, the error names the key and the file', async (t) => {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ kaltura: { serviceUrl: 'https://k.example', adminSecret: 'cli-secret-1', timeout: 5 } }));
  const r = await klive(['--config', file]);
  t.is(r.code, 2);
  t.true(r.stderr.includes(`${file}: kaltura.timeout: unknown key`), r.stderr);
  t.false(r.stderr.includes('cli-secret-1'));
});

test('no admin secret outside dev mode: exit 2 with a clear message', async (t) => {
  const file = join(dir, 'nosecret.json');
  writeFileSync(file, JSON.stringify({ kaltura: { serviceUrl: 'https://k.example' } }));
  const r = await klive(['--config', file]);
  t.is(r.code, 2);
  t.regex(r.stderr, /kaltura\.adminSecret is required/);
  t.regex(r.stderr, /KLIVE_ADMIN_SECRET/);
});

test('--print-config shows the effective config with the secret masked', async (t) => {
  const file = join(dir, 'print.json');
  writeFileSync(file, JSON.stringify({ kaltura: { serviceUrl: 'https://k.example', adminSecret: 'cli-secret-2' } }));
  const r = await klive(['--config', file, '--port', '1940', '--set', 'kaltura.timeoutMs=4000', '--print-config']);
  t.is(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout) as { rtmp: { port: number }; kaltura: { timeoutMs: number; adminSecret: string } };
  t.is(printed.rtmp.port, 1940);
  t.is(printed.kaltura.timeoutMs, 4000);
  t.is(printed.kaltura.adminSecret, '***');
  t.false(r.stdout.includes('cli-secret-2'));
});

test('--dev: a working ffmpeg command, the playback URL, and the recorded demo entry from publish to appendRecording; SIGTERM exits 0', async (t) => {
  t.timeout(120_000);
  const media = await clip(dir, 6);
  const recordings = join(dir, 'dev-recordings');
  const child = spawn(process.execPath, [BIN, '--dev', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--set', 'admin.host=127.0.0.1',
    '--set', `recording.directory=${recordings}`, '--set', 'recording.republishGraceSeconds=2', '--log-format', 'json'], { env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 110_000);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const publishUrl = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /ffmpeg -re .* '(rtmp:\/\/[^']+)'/.exec(stderr);
      if (m) resolve(m[1]);
    });
    void exited.then(() => reject(new Error(`exited early: ${stderr}`)));
  });
  t.regex(stderr, /Server: +rtmp:\/\/127\.0\.0\.1:\d+\/kLive\/\?p=102&e=0_demo1234&i=0&t=demotoken/);
  t.regex(stderr, /Stream Key: +0_demo1234_1/);
  t.regex(stderr, /^ +http:\/\/127\.0\.0\.1:\d+\/kLive\/smil:0_demo1234_all\.smil\/playlist\.m3u8$/m, 'the playback URL (master on the RTMP port)');
  t.regex(stderr, /^ +ffplay 'http:\/\/127\.0\.0\.1:\d+\/kLive\/smil:0_demo1234_all\.smil\/playlist\.m3u8'$/m);
  t.true(stderr.includes(`${join(recordings, '0_demorec1')}/`) && stderr.includes(`${join(recordings, 'shared', '0_demorec1')}/`), 'where recordings go');
  // The printed URL works: a real encoder publishes through Kaltura authentication.
  const published = await publishFile(publishUrl, media, 30_000).done;
  t.is(published.code, 0, published.stderr);
  t.true(stdout.includes('"publish accepted"'));
  // SRT and RTMPS are on in --dev, with Kaltura's SRT stream id and the RTMP URL in TLS.
  t.regex(stderr, /rtmps:\/\/127\.0\.0\.1:\d+\/kLive\/\?p=102&e=0_demo1234&i=0&t=demotoken/);
  const srtUrl = /'(srt:\/\/127\.0\.0\.1:\d+\?streamid=#:::e=0_demo1234,st=0,p=demotoken)'/.exec(stderr)?.[1];
  if (!srtUrl) return t.fail(`no SRT publish command in the banner:\n${stderr}`);
  const overSrt = await run(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-re', '-i', media, '-c', 'copy', '-f', 'mpegts', srtUrl], 30_000);
  t.is(overSrt.code, 0, overSrt.stderr);
  t.is(stdout.split('\n').filter((l) => l.includes('"publish accepted"') && l.includes('0_demo1234_1')).length, 2, 'the RTMP and the SRT publish were admitted');

  // The recorded demo entry: publish → MP4 segment → moved to the shared directory → appendRecording.
  const recordUrl = /^ +(rtmp:\/\/\S+0_demorec1_1)$/m.exec(stderr)?.[1];
  if (!recordUrl) return t.fail(`no recording publish URL in the banner:\n${stderr}`);
  const recorded = await publishFile(recordUrl, media, 30_000).done;
  t.is(recorded.code, 0, recorded.stderr);
  const delivered = await until('the recorded segment delivered', 60_000, () => {
    const line = stdout.split('\n').find((l) => l.includes('"msg":"recording segment delivered"'));
    return line ? (JSON.parse(line) as { entryId: string; path: string; durationMs: number; isLast: boolean }) : undefined;
  });
  t.like(delivered, { entryId: '0_demorec1', isLast: true });
  t.true(delivered.path.startsWith(join(recordings, 'shared', '0_demorec1')), delivered.path);
  t.true(delivered.durationMs > 4000, `recorded ${delivered.durationMs} ms of a 6 s publish`);
  const probed = await run(FFPROBE, ['-v', 'error', '-of', 'json', '-show_streams', delivered.path]);
  const streams = (JSON.parse(probed.stdout) as { streams: Array<{ codec_name?: string; codec_type: string; codec_tag_string: string }> }).streams;
  t.deepEqual(streams.filter((x) => x.codec_type !== 'data').map((x) => x.codec_name).sort(), ['aac', 'h264']);
  // The recorded entry's sync points ride along as Kaltura's batch expects them: stream 2, AMF0 data.
  t.like(streams[2], { codec_type: 'data', codec_tag_string: 'amf0' });

  child.kill('SIGTERM');
  t.is(await exited, 0);
  clearTimeout(killer);
  t.regex(stdout, /"msg":"stopped"/);
});

test('against Kaltura: the node is registered at start; SIGTERM marks it offline and exits 0', async (t) => {
  const emulator = await startKalturaEmulator({ fixtures: demoFixtures() });
  t.teardown(() => emulator.stop());
  const file = join(dir, 'kaltura.json');
  writeFileSync(file, JSON.stringify({
    kaltura: { serviceUrl: emulator.url, adminSecret: MEDIA_SERVER_ADMIN_SECRET, heartbeatIntervalSeconds: 0 },
    hostname: 'klive-cli-node',
    rtmp: { host: '127.0.0.1', port: 0 },
    recording: { directory: join(dir, 'rec-sigterm') },
    log: { format: 'json' },
  }));
  const child = spawn(process.execPath, [BIN, '--config', file], { env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await until('the server to start', 30_000, () => out.includes('"msg":"klive-server started"'));
  const node = () => emulator.serverNodes().find((n) => n.hostName === 'klive-cli-node');
  t.is(node()?.status, 1, 'registered as ACTIVE');
  child.kill('SIGTERM');
  t.is(await exited, 0, out);
  t.is(node()?.status, 4, 'marked offline (NOT_REGISTERED) on the way out');
  t.regex(out, /"msg":"media server node marked offline"/);
  t.is(emulator.callsOf('serverNode', 'markOffline').length, 1);
});

test('a start-up failure (the RTMP port is taken) exits 1 with the reason', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const r = await klive(['--dev', '--host', '127.0.0.1', '--port', String(port), '--set', 'admin.port=0', '--set', 'admin.host=127.0.0.1', '--set', `recording.directory=${join(dir, 'rec-busy')}`, '--log-format', 'json'], 30_000);
  t.is(r.code, 1, `${r.stdout}${r.stderr}`);
  t.regex(r.stdout, /"msg":"klive-server failed to start"/);
  t.regex(r.stdout, /address already in use|EADDRINUSE|in use/i);
});
