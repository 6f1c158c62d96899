/**
 * The package bin as a user runs it: `node bin/klive-server.js …`.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { version } from '../package.json';
import { clip, publishFile, run, tempDir } from './helpers/media';

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

test('--dev starts the emulator, prints a working ffmpeg command, and SIGTERM exits 0', async (t) => {
  const media = await clip(dir, 2);
  const child = spawn(process.execPath, [BIN, '--dev', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json'], { env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
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
  // The printed URL works: a real encoder publishes through Kaltura authentication.
  const published = await publishFile(publishUrl, media, 20_000).done;
  t.is(published.code, 0, published.stderr);
  t.true(stdout.includes('"publish accepted"'));

  child.kill('SIGTERM');
  t.is(await exited, 0);
  clearTimeout(killer);
  t.regex(stdout, /"msg":"stopped"/);
});
