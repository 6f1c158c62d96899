/**
 * Issue 4: a real player. hls.js (node_modules, served by a local page server) in headless
 * Debian Chromium, driven by playwright-core, plays the master playlist of a transcoded ladder
 * (854x480 source → source + 480p + 360p + audio-only) that a real ffmpeg encoder publishes to
 * the daemon. Playback must advance ≥ 10 s of media (decoded frames, level switches played through), and hls.js must
 * have parsed the variants and loaded fragments of the levels it chose.
 *
 * A screenshot of the page is kept in __test__/out/hls-player.png (gitignored).
 */
import test from 'ava';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromiumMissing, hlsJsVersion, openPlayer, startPageServer, type PlayerSnapshot } from './helpers/browser';
import { FLAVOR, fixturesWith, masterUrl, parseMaster, getOk, publishDetailed, startHlsEnv, until, waitForSegments } from './helpers/hls';
import { sleep } from './helpers/media';

const ENTRY = '0_hlsplay1';
const PLAY_SECONDS = 10;
const OUT = join(__dirname, 'out');

test('hls.js in headless Chromium plays ≥ 10 s of the master playlist, switching down through the renditions', async (t) => {
  t.timeout(120_000);
  const missing = chromiumMissing();
  if (missing) {
    t.fail(missing);
    return;
  }
  const env = await startHlsEnv({
    fixtures: fixturesWith([{ id: ENTRY, flavorParamsIds: [FLAVOR.source, FLAVOR.sd480, FLAVOR.sd360, FLAVOR.audioOnly], segmentDuration: 2000 }]),
  });
  t.teardown(() => env.stop());
  // 480p30 source at 2 Mbit/s: the optional 480p flavor (1200 kbit/s) is kept (40 % gap).
  const encoder = publishDetailed(env.publishUrl(ENTRY), { seconds: 60, size: '854x480', rate: 30, videoKbps: 2000, noise: 8, codecIdStrings: true });
  t.teardown(() => {
    encoder.child.kill('SIGKILL');
  });
  const pages = await startPageServer();
  t.teardown(() => pages.close());

  // hls.js starts three target durations behind the live edge: wait for that much media.
  const renditions = [FLAVOR.source, FLAVOR.sd480, FLAVOR.sd360, FLAVOR.audioOnly].map((id) => `${ENTRY}_${id}`);
  await Promise.all(renditions.map((s) => waitForSegments(env.origin, s, 3, 45_000)));
  const master = masterUrl(env.origin, `${ENTRY}_1_all`);
  const variants = parseMaster((await getOk(master)).toString('utf8'));
  t.is(variants.length, 4, 'the master lists the four renditions');

  const openedAt = Date.now();
  const player = await openPlayer(pages, master);
  t.teardown(() => player.close());
  t.deepEqual(pages.requests.slice(0, 2), ['/', '/hls.min.js'], 'hls.js came from the local page server');

  const started = await until('playback to start', 20_000, async () => {
    const s = await player.snapshot();
    const fatal = s.errors.find((e) => e.fatal);
    if (fatal) throw new Error(`hls.js fatal error before playing: ${JSON.stringify(fatal)}`);
    return s.firstPlayingWallMs !== null && s.currentTime > 0 ? s : undefined;
  }, 200).catch(async (error: Error) => {
    const s = await player.snapshot().catch(() => undefined);
    throw new Error(`${error.message}; player ${JSON.stringify(s)}; console ${player.console.join(' | ')}`);
  });
  t.true(started.supported, 'MSE supported');

  // Watch ≥ 10 s of media play, polling, within a generous bound: how fast a loaded machine
  // plays is not the server's doing, what plays is.
  const wallStart = Date.now();
  const mediaStart = started.currentTime;
  let last: PlayerSnapshot = started;
  const samples: string[] = [];
  // Midway, down-switch to the smallest video level and then to the middle one, as ABR would on a
  // slower network: the renditions must line up for that to play through.
  const byBitrate = started.manifestLevels.map((l, i) => ({ i, h: l.height, b: l.bitrate })).sort((a, b) => a.b - b.b);
  const plan = [
    { atMedia: 3, level: byBitrate[0]?.i ?? 0 },
    { atMedia: 6.5, level: byBitrate[1]?.i ?? 0 },
  ];
  while (last.currentTime - mediaStart < PLAY_SECONDS && Date.now() - wallStart < 60_000) {
    await sleep(500);
    last = await player.snapshot();
    const next = plan[0];
    if (next && last.currentTime - mediaStart >= next.atMedia) {
      plan.shift();
      await player.switchLevel(next.level);
    }
    samples.push(`${((Date.now() - wallStart) / 1000).toFixed(1)}:${(last.currentTime - mediaStart).toFixed(2)}`);
  }
  const wallSeconds = (Date.now() - wallStart) / 1000;
  const mediaSeconds = last.currentTime - mediaStart;
  mkdirSync(OUT, { recursive: true });
  await player.screenshot(join(OUT, 'hls-player.png'));

  const levels = last.manifestLevels.map((l, i) => `${i}: ${l.width}x${l.height} ${Math.round(l.bitrate / 1000)}k ${l.videoCodec ?? '-'}/${l.audioCodec ?? '-'} ${l.url.replace(/^.*\/kLive\//, '')}`);
  t.log(`Chromium ${player.version}, hls.js ${last.hlsVersion} (package ${hlsJsVersion()})`);
  t.log(`levels parsed by hls.js:\n  ${levels.join('\n  ')}`);
  t.log(`current level ${last.currentLevel} (${last.videoWidth}x${last.videoHeight}), switches ${JSON.stringify(last.levelSwitches)}, main fragments loaded per level ${JSON.stringify(last.fragsLoaded)}`);
  t.log(`played ${mediaSeconds.toFixed(2)} s of media in ${wallSeconds.toFixed(2)} s wall; started at currentTime ${mediaStart.toFixed(2)}, ${(started.firstPlayingWallMs ?? NaN) - openedAt} ms after the browser was launched; latency ${last.latency.toFixed(2)} s; buffer ahead ${(last.bufferedEnd - last.currentTime).toFixed(2)} s`);
  t.log(`waiting after start ${last.waitingAfterStart} (total ${last.waitingTotal}), stall errors ${last.stalledErrors}, frames ${last.totalVideoFrames} (dropped ${last.droppedVideoFrames}), errors ${JSON.stringify(last.errors)}`);
  t.log(`samples (wall s:media s) ${samples.join(' ')}`);

  t.true(mediaSeconds >= PLAY_SECONDS, `played ${mediaSeconds.toFixed(2)} s of media`);
  // Waiting events and buffer stalls are logged above, not asserted: on a loaded machine the
  // browser itself can fall behind; the media it played is what the server delivered.
  t.deepEqual(last.errors.filter((e) => e.fatal), [], 'no fatal hls.js error');
  t.false(last.paused);
  t.true(last.readyState >= 3, `readyState ${last.readyState}`);
  // hls.js chose among the video variants (it drops audio-only variants when there is video).
  t.true(last.manifestLevels.length >= 3, `levels ${last.manifestLevels.length}`);
  t.true(last.manifestLevels.every((l) => l.videoCodec !== null && l.height > 0));
  t.true(last.currentLevel >= 0 && last.currentLevel < last.manifestLevels.length);
  t.true(Object.values(last.fragsLoaded).reduce((a, b) => a + b, 0) >= 5, 'fragments were loaded');
  // The down-switch was played through: fragments of several levels, the lowest one shown.
  t.true(Object.keys(last.fragsLoaded).length >= 2, `fragments of ${JSON.stringify(last.fragsLoaded)}`);
  t.true(last.levelSwitches.includes(byBitrate[0]?.i ?? -1), `level switches ${JSON.stringify(last.levelSwitches)}`);
  t.true(last.videoWidth > 0 && last.videoHeight > 0, 'frames decoded');
  t.true(last.totalVideoFrames >= PLAY_SECONDS * 25, `${last.totalVideoFrames} frames decoded`);
});
