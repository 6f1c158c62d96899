/**
 * Issue 15: what a user gets from npm. The main package and the linux-x64-gnu package are
 * packed (`npm pack`), installed into an empty directory with cargo and rustc off PATH, and
 * `npx klive-server --dev` from there takes a real ffmpeg publish and serves HLS that ffmpeg
 * plays back. The platform package is the prebuilt core (`npm run build:prebuilt`, glibc 2.17
 * toolchain) when it has been built, else this checkout's own build.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { accessSync, constants, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { version } from '../package.json';
import { getTextIfOk, parseMaster, parseMedia, until } from './helpers/hls';
import { FFMPEG, FFPROBE, clip, publishFile, run, tempDir } from './helpers/media';

const ROOT = join(__dirname, '..');
const PLATFORM = 'linux-x64-gnu';
const NODE_FILE = `klive-server.${PLATFORM}.node`;

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string; size: number }>;
}

async function npmPack(dir: string, into: string): Promise<Packed> {
  // --ignore-scripts: dist/ is already built by `npm test` (build:js); prepare would rebuild it
  // under the feet of the tests running beside this one.
  const r = await run('npm', ['pack', dir, '--json', '--ignore-scripts', '--pack-destination', into], 120_000, { ...process.env, npm_config_loglevel: 'error' });
  if (r.code !== 0) throw new Error(`npm pack in ${dir} failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as Packed[])[0];
}

/** napi-rs's platform name of a Rust target triple (as `napi prepublish` names the packages). */
function platformOfTriple(triple: string): string {
  const [cpu, , os, abi] = triple.split('-');
  const arch = ({ x86_64: 'x64', aarch64: 'arm64' } as Record<string, string>)[cpu] ?? cpu;
  return os === 'darwin' ? `darwin-${arch}` : `${os}-${arch}-${abi}`;
}

/** PATH without any directory that holds cargo or rustc: nothing can compile Rust. */
function pathWithoutRust(): string {
  const has = (dir: string, name: string) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  return (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '' && !has(d, 'cargo') && !has(d, 'rustc')).join(delimiter);
}

test('npm pack → npm install into an empty directory without Rust → npx klive-server --dev publishes and plays HLS', async (t) => {
  t.timeout(300_000);
  if (process.platform !== 'linux' || process.arch !== 'x64') return t.fail(`this test packs the ${PLATFORM} package; it runs on Linux x64`);
  const work = tempDir('package');
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);

  // The platform package: npm/linux-x64-gnu with its .node.
  const prebuilt = join(ROOT, 'npm', PLATFORM, NODE_FILE);
  const platformDir = join(work, PLATFORM);
  mkdirSync(platformDir);
  for (const f of ['package.json', 'README.md']) copyFileSync(join(ROOT, 'npm', PLATFORM, f), join(platformDir, f));
  if (existsSync(prebuilt)) {
    copyFileSync(prebuilt, join(platformDir, NODE_FILE));
    t.log(`platform package from the prebuilt core ${prebuilt}`);
  } else if (process.env.CI) {
    return t.fail(`${prebuilt} is missing: CI builds it with \`npm run build:prebuilt\` before \`npm test\``);
  } else {
    copyFileSync(join(ROOT, NODE_FILE), join(platformDir, NODE_FILE));
    t.log(`platform package from this checkout's build (run \`npm run build:prebuilt\` for the published one)`);
  }

  // The main package as `napi prepublish` (npm publish's prepublishOnly) leaves it: the same
  // files, and package.json listing klive-server-<platform>@<version> for every napi target.
  // The repository does not list them: `npm ci` refuses optional dependencies that are not
  // published yet, and a version bump would be unpublished until its release.
  const mainDir = join(work, 'klive-server');
  mkdirSync(mainDir);
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[]; napi: { targets: string[] }; optionalDependencies?: Record<string, string> };
  const platforms = manifest.napi.targets.map(platformOfTriple);
  manifest.optionalDependencies = { ...manifest.optionalDependencies, ...Object.fromEntries(platforms.map((p) => [`klive-server-${p}`, version])) };
  writeFileSync(join(mainDir, 'package.json'), JSON.stringify(manifest, null, 2));
  for (const entry of [...manifest.files, 'README.md']) cpSync(join(ROOT, entry), join(mainDir, entry), { recursive: true });
  t.deepEqual(platforms, ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'darwin-x64', 'darwin-arm64']);
  t.true(platforms.every((p) => existsSync(join(ROOT, 'npm', p, 'package.json'))), 'an npm/<platform> package for each napi target');
  const main = await npmPack(mainDir, tarballs);
  const platform = await npmPack(platformDir, tarballs);
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  t.log(`${main.filename}: ${kb(main.size)} (${kb(main.unpackedSize)} unpacked, ${main.files.length} files); ${platform.filename}: ${kb(platform.size)} (${kb(platform.unpackedSize)} unpacked)`);

  // What a user needs and nothing else: the loader, the types, the bin, the compiled JavaScript.
  const stray = main.files.map((f) => f.path).filter((p) => !/^(package\.json|README\.md|LICENSE|index\.js|index\.d\.ts|bin\/klive-server\.js|dist\/.+\.(js|js\.map|d\.ts|html|css))$/.test(p));
  t.deepEqual(stray, [], 'the main tarball holds only package.json, README, the loader, bin and dist/');
  for (const needed of ['index.js', 'index.d.ts', 'bin/klive-server.js', 'dist/cli.js', 'dist/cli.js.map', 'dist/index.d.ts', 'dist/http/dashboard/index.html']) {
    t.true(main.files.some((f) => f.path === needed), `the main tarball has ${needed}`);
  }
  t.deepEqual(platform.files.map((f) => f.path).sort(), [NODE_FILE, 'README.md', 'package.json'].sort());

  // Install both into an empty directory with no Rust toolchain reachable.
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'klive-install-test', version: '1.0.0', private: true }));
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithoutRust(), CARGO: '/nonexistent/cargo', RUSTC: '/nonexistent/rustc', npm_config_loglevel: 'warn' };
  for (const k of Object.keys(env)) if (k.startsWith('KLIVE_')) delete env[k];
  const rust = await run('sh', ['-c', 'command -v cargo || command -v rustc || echo none'], 10_000, env, app);
  t.is(rust.stdout.trim(), 'none', 'cargo and rustc are not on PATH');
  const startedAt = Date.now();
  const install = await run('npm', ['install', '--no-audit', '--no-fund', join(tarballs, main.filename), join(tarballs, platform.filename)], 240_000, env, app);
  const installMs = Date.now() - startedAt;
  t.is(install.code, 0, install.stderr);
  t.log(`npm install of the two tarballs took ${(installMs / 1000).toFixed(1)} s (registry dependencies included)`);
  t.notRegex(`${install.stdout}${install.stderr}`, /Compiling|cargo|rustc/i, 'nothing was compiled');
  const installed = join(app, 'node_modules', 'klive-server');
  t.false(existsSync(join(installed, 'crates')) || existsSync(join(installed, 'target')) || existsSync(join(installed, NODE_FILE)), 'no sources, no build output in the installed package');
  t.true(statSync(join(app, 'node_modules', `klive-server-${PLATFORM}`, NODE_FILE)).size > 100_000);
  const loaded = await run(process.execPath, ['-e', `const b = require('klive-server/index.js'); console.log(require.resolve('klive-server-${PLATFORM}'), b.nativeVersion())`], 30_000, { ...env, NODE_PATH: '' }, app);
  t.is(loaded.code, 0, loaded.stderr);
  t.regex(loaded.stdout, new RegExp(`klive-server-${PLATFORM}.*${NODE_FILE.replace(/\./g, '\\.')} ${version.replace(/\./g, '\\.')}`), 'the core comes from the platform package');
  t.deepEqual(readdirSync(installed).filter((f) => !['README.md', 'LICENSE', 'bin', 'dist', 'index.d.ts', 'index.js', 'package.json'].includes(f)), []);

  // npx klive-server --dev on ports the OS picks; the banner says how to publish and play.
  const recordings = join(work, 'recordings');
  const server = spawn('npx', ['--no-install', 'klive-server', '--dev', '--host', '127.0.0.1', '--port', '0', '--set', 'admin.host=127.0.0.1', '--set', 'admin.port=0', '--set', `recording.directory=${recordings}`, '--log-format', 'json'], {
    cwd: app,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  t.teardown(() => {
    try {
      if (server.pid) process.kill(-server.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  });
  let banner = '';
  let logs = '';
  server.stderr.on('data', (d: Buffer) => (banner += d.toString()));
  server.stdout.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<number | null>((resolve) => server.on('close', (code) => resolve(code)));
  const publishUrl = await until('the --dev banner', 60_000, () => {
    if (server.exitCode !== null) throw new Error(`klive-server exited: ${banner}`);
    return /ffmpeg -re .* '(rtmp:\/\/[^']+)'/.exec(banner)?.[1];
  }, 100);
  const playbackUrl = /^\s+(http:\/\/127\.0\.0\.1:\d+\/kLive\/smil:0_demo1234_all\.smil\/playlist\.m3u8)$/m.exec(banner)?.[1];
  t.truthy(playbackUrl, banner);
  t.regex(banner, /ffplay 'http:\/\/127\.0\.0\.1:\d+\/kLive\/smil:0_demo1234_all\.smil\/playlist\.m3u8'/);
  t.true(banner.includes(join(recordings, '0_demorec1')), 'the banner says where recordings go');

  const media = await clip(tempDir('package-clip'), 20);
  const encoder = publishFile(publishUrl, media, 60_000);
  t.teardown(() => void encoder.child.kill('SIGKILL'));
  // The master lists the renditions once they are live; each video rendition is then played
  // with ffmpeg's HLS reader once it has two segments.
  const master = playbackUrl ?? '';
  const variants = await until('a video rendition with two segments in the master playlist', 90_000, async () => {
    const text = await getTextIfOk(master);
    const video = text === undefined ? [] : parseMaster(text).filter((v) => v.resolution !== undefined);
    if (video.length === 0) return undefined;
    const media = await getTextIfOk(new URL(video[0].uri, master).toString());
    return media !== undefined && parseMedia(media).segments.length >= 2 ? video : undefined;
  }, 500);
  const variantUrl = new URL(variants[0].uri, master).toString();
  const played = await run(FFMPEG, ['-v', 'error', '-i', variantUrl, '-t', '3', '-f', 'framemd5', '-'], 60_000);
  t.is(played.code, 0, played.stderr);
  const frames = played.stdout.split('\n').filter((l) => /^0,/.test(l)).length;
  t.true(frames >= 25, `${frames} video frames decoded from ${variantUrl}`);
  const probed = await run(FFPROBE, ['-v', 'error', '-of', 'json', '-show_streams', variantUrl], 60_000);
  t.is(probed.code, 0, probed.stderr);
  const codecs = (JSON.parse(probed.stdout) as { streams: Array<{ codec_name: string }> }).streams.map((x) => x.codec_name).filter((c) => c !== 'timed_id3').sort();
  t.deepEqual(codecs, ['aac', 'h264']);
  t.true(logs.includes('"publish accepted"'), 'the publish went through Kaltura authentication (the emulator)');

  // npx runs the bin in a child; SIGTERM to the process group reaches the server itself,
  // which shuts down gracefully (npx itself dies of the signal).
  if (server.pid) process.kill(-server.pid, 'SIGTERM');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running 30 s after SIGTERM'), 30_000))]);
  t.not(code, 'still running 30 s after SIGTERM');
  t.regex(logs, /"msg":"stopped"/, 'the server stopped gracefully');
});
