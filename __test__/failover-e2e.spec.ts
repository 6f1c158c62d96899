/**
 * Issue 13: two nodes, one event. Real processes: a primary (`klive-server --dev`, 127.0.0.2,
 * with the embedded Kaltura emulator) and a backup (`klive-server --dev --backup-of`, 127.0.0.3)
 * fed by one ffmpeg teeing the same encode to both ingest URLs (i=0 and i=1); hls.js in headless
 * Chromium plays Kaltura's playManifest (the proxied master lists both nodes' renditions as
 * redundant variants). The primary is killed (SIGKILL) mid-playback, or its network cut (players
 * reach it through a relay that stops forwarding): the player must carry on from the backup,
 * with no fragment played twice or skipped (by sequence number and PTS).
 *
 * Defaults are short for a loaded machine; KLIVE_LONG_TESTS=1 uses the issue's figures (kill
 * 30 s into playback, watch 60 s after).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { chromiumMissing, openPlayer, startPageServer, type PlayerFrag, type PlayerSnapshot } from './helpers/browser';
import { until } from './helpers/hls';
import { sleep, tempDir } from './helpers/media';

const LONG = process.env.KLIVE_LONG_TESTS === '1';
const KILL_AFTER_S = LONG ? 30 : 12;
const WATCH_AFTER_S = LONG ? 60 : 24;
const BIN = join(__dirname, '..', 'bin', 'klive-server.js');
const ENTRY = '0_demopass';
const PARTNER = 102;
const PRIMARY = '127.0.0.2';
const BACKUP = '127.0.0.3';
/** The passthrough demo entry's segment duration (demo fixtures). */
const SEGMENT_S = 6;

interface Node {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startNode(args: string[], dir: string): Node {
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KLIVE_')));
  const child = spawn(process.execPath, [BIN, '--dev', '--port', '0', '--admin-port', '0', '--set', 'admin.host=127.0.0.1', '--set', `recording.directory=${dir}`, '--log-format', 'json', ...args], {
    env: cleanEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-2_000_000)));
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-200_000)));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

function publishUrl(host: string, port: number, index: 0 | 1): string {
  return `rtmp://${host}:${port}/kLive/?p=${PARTNER}&e=${ENTRY}&i=${index}&t=demotoken/${ENTRY}_1`;
}

/** Played fragments: consecutive sequence numbers, each starting where the previous ended. */
function continuity(frags: PlayerFrag[]): string[] {
  const problems: string[] = [];
  for (let i = 1; i < frags.length; i++) {
    const [a, b] = [frags[i - 1], frags[i]];
    if (b.sn !== a.sn + 1) problems.push(`sn ${a.sn} → ${b.sn} (${hostOf(a.url)} → ${hostOf(b.url)})`);
    if (a.endPTS !== null && b.startPTS !== null && Math.abs(b.startPTS - a.endPTS) > 0.25) {
      problems.push(`PTS gap ${a.endPTS.toFixed(3)} → ${b.startPTS.toFixed(3)} at sn ${b.sn} (${hostOf(a.url)} → ${hostOf(b.url)})`);
    }
  }
  return problems;
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
}

/**
 * A TCP relay on `host:port` to `target`: what players reach the primary through. `cut()` stops
 * forwarding without closing anything (a dead network path: requests hang, nothing answers).
 */
async function startRelay(host: string, port: number, target: { host: string; port: number }): Promise<{ cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let cut = false;
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (cut) return; // accepted, never answered
    const upstream = connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('data', (d) => {
      if (!cut) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!cut) client.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    cut() {
      cut = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const FAILOVER_LOAD_POLICY = {
  default: {
    maxTimeToFirstByteMs: 3000,
    maxLoadTimeMs: 10_000,
    timeoutRetry: { maxNumRetry: 0, retryDelayMs: 0, maxRetryDelayMs: 0 },
    errorRetry: { maxNumRetry: 1, retryDelayMs: 500, maxRetryDelayMs: 1000 },
  },
};

/** The address players reach the primary at when its network is cut (through the relay). */
const PRIMARY_VIA_RELAY = '127.0.0.4';

async function failover(t: ExecutionContext, mode: 'kill' | 'cut'): Promise<void> {
  t.timeout((120 + KILL_AFTER_S + WATCH_AFTER_S) * 1000 * 2);
  const missing = chromiumMissing();
  if (missing) {
    t.fail(missing);
    return;
  }
  const dir = tempDir('failover');

  // Cut mode: Kaltura knows the primary by the relay's address, so players go through it.
  const primaryName = mode === 'cut' ? PRIMARY_VIA_RELAY : PRIMARY;
  const primary = startNode(['--host', PRIMARY, '--hostname', primaryName], join(dir, 'primary'));
  t.teardown(() => primary.child.kill('SIGKILL'));
  const emulatorUrl = await until('the primary to print its emulator URL', 60_000, () => /emulator answers at (http:\/\/[^\s]+)/.exec(primary.stderr())?.[1]).catch((e: Error) => {
    throw new Error(`${e.message}: ${primary.stderr()}`);
  });
  const primaryPort = Number(/rtmp:\/\/127\.0\.0\.2:(\d+)\//.exec(primary.stderr())?.[1]);
  const backup = startNode(['--backup-of', emulatorUrl, '--host', BACKUP, '--hostname', BACKUP], join(dir, 'backup'));
  t.teardown(() => backup.child.kill('SIGKILL'));
  await until('the backup to start', 60_000, () => backup.stderr().includes('backup node'));
  const backupPort = Number(/rtmp:\/\/127\.0\.0\.3:(\d+)\//.exec(backup.stderr())?.[1]);
  t.true(primaryPort > 0 && backupPort > 0, `ports ${primaryPort} ${backupPort}`);
  const relay = mode === 'cut' ? await startRelay(PRIMARY_VIA_RELAY, primaryPort, { host: PRIMARY, port: primaryPort }) : undefined;
  if (relay) t.teardown(() => relay.close());

  // One encode, teed to both nodes; a leg that fails (the killed primary) is dropped, not the encoder.
  const seconds = 90 + KILL_AFTER_S + WATCH_AFTER_S;
  const ffmpeg = spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=25`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(seconds), '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '50', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '64k', '-flags:v', '+global_header', '-flags:a', '+global_header',
      '-f', 'tee', `[f=flv:onfail=ignore]${publishUrl(PRIMARY, primaryPort, 0)}|[f=flv:onfail=ignore]${publishUrl(BACKUP, backupPort, 1)}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let ffmpegErr = '';
  ffmpeg.stderr?.on('data', (d: Buffer) => (ffmpegErr = (ffmpegErr + d.toString()).slice(-20_000)));
  t.teardown(() => ffmpeg.kill('SIGKILL'));

  // Both nodes PLAYABLE with their renditions reported: the proxied master lists both.
  const manifest = `${emulatorUrl}/p/${PARTNER}/sp/${PARTNER}00/playManifest/entryId/${ENTRY}/format/applehttp/protocol/http/a.m3u8`;
  const master = await until('playManifest to list both nodes', 90_000, async () => {
    const res = await fetch(manifest, { redirect: 'manual' });
    const text = res.status === 200 ? await res.text() : '';
    return text.includes(`//${primaryName}:${primaryPort}/`) && text.includes(`//${BACKUP}:${backupPort}/`) ? text : undefined;
  }, 500).catch((e: Error) => {
    throw new Error(`${e.message}; ffmpeg: ${ffmpegErr}; primary: ${primary.stderr().slice(-2000)}`);
  });
  t.log(`playManifest master:\n${master}`);
  const variantUrls = master.split('\n').filter((l) => l.startsWith('http://'));
  t.deepEqual(
    variantUrls.map((u) => u.replace(/\/\/[^/]+\//, '//HOST/')),
    [`http://HOST/kLive/smil:${ENTRY}_all.smil/32/chunklist.m3u8`, `http://HOST/kLive/smil:${ENTRY}_all.smil/32/chunklist.m3u8`],
    'one rendition, primary then backup',
  );
  // The two nodes' playlists name the same content alike (wall-clock timeline).
  const [p, b] = await Promise.all(variantUrls.map(async (u) => (await fetch(u)).text()));
  const seqOf = (text: string) => Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1]);
  t.true(Math.abs(seqOf(p) - seqOf(b)) <= 1, `media sequence primary ${seqOf(p)} backup ${seqOf(b)}`);

  const pages = await startPageServer();
  t.teardown(() => pages.close());
  // A dead path answers nothing: hls.js's default load policy waits 10 s per try and retries
  // twice before it takes the redundant URL. A player meant to fail over sets shorter load
  // timeouts and no timeout retry (a refused connection, as after kill -9, fails over at once).
  const hlsConfig = mode === 'cut' ? { playlistLoadPolicy: FAILOVER_LOAD_POLICY, fragLoadPolicy: FAILOVER_LOAD_POLICY } : undefined;
  const player = await openPlayer(pages, manifest, hlsConfig);
  t.teardown(() => player.close());
  const started = await until('playback to start', 60_000, async () => {
    const s = await player.snapshot();
    const fatal = s.errors.find((e) => e.fatal);
    if (fatal) throw new Error(`hls.js fatal error: ${JSON.stringify(fatal)}`);
    return s.firstPlayingWallMs !== null && s.currentTime > 0 ? s : undefined;
  }, 250).catch(async (e: Error) => {
    throw new Error(`${e.message}; player ${JSON.stringify(await player.snapshot().catch(() => undefined))}; console ${player.console.join(' | ')}`);
  });
  t.log(`levels: ${JSON.stringify(started.manifestLevels.map((l) => l.url))}`);

  // Play KILL_AFTER_S of media, sampling currentTime to find stalls.
  const samples: Array<{ wall: number; media: number }> = [];
  const sample = async (): Promise<PlayerSnapshot> => {
    const s = await player.snapshot();
    samples.push({ wall: Date.now(), media: s.currentTime });
    return s;
  };
  let last = await sample();
  while (last.currentTime - started.currentTime < KILL_AFTER_S) {
    await sleep(250);
    last = await sample();
  }
  const beforeKill = last;
  t.true(beforeKill.fragsChanged.every((f) => hostOf(f.url) === primaryName), 'played from the primary before the kill');

  const killedAt = Date.now();
  if (relay) relay.cut();
  else {
    primary.child.kill('SIGKILL');
    await primary.exited;
  }
  const mediaAtKill = last.currentTime;
  while (last.currentTime - mediaAtKill < WATCH_AFTER_S && Date.now() - killedAt < (WATCH_AFTER_S + 60) * 1000) {
    await sleep(250);
    last = await sample();
  }
  const after = samples.filter((s) => s.wall >= killedAt);
  let longestStallMs = 0;
  let stallStart = after[0]?.wall ?? killedAt;
  for (let i = 1; i < after.length; i++) {
    if (after[i].media > after[i - 1].media) stallStart = after[i].wall;
    else longestStallMs = Math.max(longestStallMs, after[i].wall - stallStart);
  }
  const played = last.fragsChanged;
  const afterKill = played.filter((f) => f.wallMs >= killedAt);
  t.log(`played ${(last.currentTime - mediaAtKill).toFixed(1)} s of media in ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill; longest stall ${longestStallMs} ms`);
  t.log(`fragments played: ${played.map((f) => `${f.sn}@${hostOf(f.url)}[${f.startPTS?.toFixed(2)}-${f.endPTS?.toFixed(2)}]`).join(' ')}`);
  t.log(`errors: ${JSON.stringify(last.errors.map((e) => e.details))}`);

  t.deepEqual(last.errors.filter((e) => e.fatal), [], 'no fatal hls.js error');
  t.true(last.currentTime - mediaAtKill >= WATCH_AFTER_S, `played ${(last.currentTime - mediaAtKill).toFixed(1)} s after the kill`);
  t.true(afterKill.some((f) => hostOf(f.url) === BACKUP), 'fragments from the backup after the kill');
  t.deepEqual(continuity(played), [], 'every fragment once, in order, PTS contiguous');
  t.true(longestStallMs <= SEGMENT_S * 1000, `longest stall ${longestStallMs} ms (one segment is ${SEGMENT_S} s)`);
}

test.serial('kill -9 the primary mid-playback: hls.js carries on from the backup, no fragment repeated or skipped', (t) => failover(t, 'kill'));

test.serial("the primary's network cut mid-playback (a relay that stops forwarding): hls.js carries on from the backup", (t) => failover(t, 'cut'));
