/**
 * A real player for the tests: hls.js (from node_modules) in headless Debian Chromium, driven
 * by playwright-core. A tiny local page server (127.0.0.1, ephemeral port) serves the test
 * page and hls.min.js, so nothing comes from the internet; the page plays an HLS URL muted and
 * keeps counters the test reads: currentTime, `waiting` events, hls.js errors (stalls), levels
 * and the fragments loaded per level.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { tempDir } from './media';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`); KLIVE_CHROMIUM overrides. */
export const CHROMIUM = process.env.KLIVE_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export interface PageServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Requests served, by path. */
  requests: string[];
  close(): Promise<void>;
}

/** The hls.js build the page loads. */
export function hlsJsPath(): string {
  return require.resolve('hls.js/dist/hls.min.js');
}

export function hlsJsVersion(): string {
  const pkg = JSON.parse(readFileSync(require.resolve('hls.js/package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * The player page: `/?src=<url>` plays `src` with hls.js, muted. `window.__player()` returns a
 * PlayerSnapshot.
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>klive-server hls.js test</title>
<style>body{margin:0;background:#111;color:#eee;font:14px monospace}video{width:640px;height:360px;background:#000;display:block}</style>
</head><body>
<video id="v" muted autoplay playsinline></video>
<pre id="status"></pre>
<script src="/hls.min.js"></script>
<script>
(function () {
  var src = new URLSearchParams(location.search).get('src');
  var video = document.getElementById('v');
  var s = {
    hlsVersion: Hls.version, supported: Hls.isSupported(), src: src,
    manifestLevels: [], levelSwitches: [], fragsLoaded: {}, errors: [],
    waitingTotal: 0, waitingAfterStart: 0, stalledErrors: 0, firstPlayingWallMs: null, startCurrentTime: null,
    playingEvents: 0, wallStartMs: Date.now(), requestedSwitches: [], fragsChanged: [], fragLoads: []
  };
  // Optional hls.js config (JSON in ?cfg=), e.g. load timeouts a failover-aware player sets.
  var cfg = JSON.parse(new URLSearchParams(location.search).get('cfg') || '{}');
  cfg.enableWorker = true;
  var hls = new Hls(cfg);
  hls.on(Hls.Events.MANIFEST_PARSED, function (_e, d) {
    s.manifestLevels = d.levels.map(function (l) {
      return { width: l.width, height: l.height, bitrate: l.bitrate, videoCodec: l.videoCodec || null, audioCodec: l.audioCodec || null, url: String(l.uri || (Array.isArray(l.url) ? l.url[0] : l.url)) };
    });
    var p = video.play();
    if (p && p.catch) p.catch(function (err) { s.errors.push({ type: 'play', details: String(err), fatal: true }); });
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, function (_e, d) { s.levelSwitches.push(d.level); });
  // Fragments as played (FRAG_CHANGED) and as loaded, with where they came from: a failover must
  // neither repeat nor skip one (bounded lists).
  function fragInfo(f) {
    return { sn: f.sn, level: f.level, start: f.start, duration: f.duration, startPTS: f.startPTS === undefined ? null : f.startPTS, endPTS: f.endPTS === undefined ? null : f.endPTS, url: String(f.url), wallMs: Date.now() };
  }
  hls.on(Hls.Events.FRAG_CHANGED, function (_e, d) { if (s.fragsChanged.length < 2000) s.fragsChanged.push(fragInfo(d.frag)); });
  hls.on(Hls.Events.FRAG_LOADED, function (_e, d) {
    if (d.frag.type !== 'main') return;
    if (s.fragLoads.length < 2000) s.fragLoads.push(fragInfo(d.frag));
    var k = String(d.frag.level);
    s.fragsLoaded[k] = (s.fragsLoaded[k] || 0) + 1;
  });
  hls.on(Hls.Events.ERROR, function (_e, d) {
    s.errors.push({ type: d.type, details: d.details, fatal: !!d.fatal, atCurrentTime: video.currentTime });
    if (d.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR || d.details === Hls.ErrorDetails.BUFFER_NUDGE_ON_STALL || d.details === Hls.ErrorDetails.BUFFER_SEEK_OVER_HOLE) s.stalledErrors++;
  });
  video.addEventListener('waiting', function () {
    s.waitingTotal++;
    if (s.firstPlayingWallMs !== null) s.waitingAfterStart++;
  });
  video.addEventListener('playing', function () {
    s.playingEvents++;
    if (s.firstPlayingWallMs === null) { s.firstPlayingWallMs = Date.now(); s.startCurrentTime = video.currentTime; }
  });
  hls.loadSource(src);
  hls.attachMedia(video);
  /** Switch at the next fragment boundary (hls.nextLevel), as an ABR down/up switch would. */
  window.__switchLevel = function (level) { s.requestedSwitches.push(level); hls.nextLevel = level; return hls.nextLevel; };
  window.__player = function () {
    var q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    var b = video.buffered;
    return {
      hlsVersion: s.hlsVersion, supported: s.supported, src: s.src,
      currentTime: video.currentTime, paused: video.paused, ended: video.ended, readyState: video.readyState,
      videoWidth: video.videoWidth, videoHeight: video.videoHeight,
      bufferedEnd: b.length ? b.end(b.length - 1) : 0,
      totalVideoFrames: q ? q.totalVideoFrames : 0, droppedVideoFrames: q ? q.droppedVideoFrames : 0,
      currentLevel: hls.currentLevel, loadLevel: hls.loadLevel, latency: hls.latency,
      fragsChanged: s.fragsChanged.slice(), fragLoads: s.fragLoads.slice(),
      manifestLevels: s.manifestLevels, levelSwitches: s.levelSwitches.slice(), requestedSwitches: s.requestedSwitches.slice(), fragsLoaded: Object.assign({}, s.fragsLoaded),
      errors: s.errors.slice(), waitingTotal: s.waitingTotal, waitingAfterStart: s.waitingAfterStart, stalledErrors: s.stalledErrors,
      playingEvents: s.playingEvents, firstPlayingWallMs: s.firstPlayingWallMs, startCurrentTime: s.startCurrentTime, wallNowMs: Date.now()
    };
  };
  setInterval(function () {
    var p = window.__player();
    document.getElementById('status').textContent = 'hls.js ' + p.hlsVersion + '  t=' + p.currentTime.toFixed(2) + '  level ' + p.currentLevel +
      ' (' + p.videoWidth + 'x' + p.videoHeight + ')  waiting ' + p.waitingAfterStart + '  stalls ' + p.stalledErrors;
  }, 250);
})();
</script></body></html>`;

/** Serves the player page and hls.min.js on 127.0.0.1 (ephemeral port). */
export async function startPageServer(): Promise<PageServer> {
  const hlsJs = readFileSync(hlsJsPath());
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    requests.push(path);
    if (path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(PAGE);
    } else if (path === '/hls.min.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(hlsJs);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface PlayerLevel {
  width: number;
  height: number;
  bitrate: number;
  videoCodec: string | null;
  audioCodec: string | null;
  url: string;
}

export interface PlayerError {
  type: string;
  details: string;
  fatal: boolean;
  atCurrentTime?: number;
}

/** A fragment as hls.js reports it (FRAG_CHANGED / FRAG_LOADED). */
export interface PlayerFrag {
  sn: number;
  level: number;
  /** Playlist timeline start and duration, s. */
  start: number;
  duration: number;
  /** Presentation times hls.js parsed from the media, s (null before parsing). */
  startPTS: number | null;
  endPTS: number | null;
  url: string;
  wallMs: number;
}

export interface PlayerSnapshot {
  /** Main fragments as played (FRAG_CHANGED), oldest first (at most 2000). */
  fragsChanged: PlayerFrag[];
  /** Main fragments as loaded (FRAG_LOADED), oldest first (at most 2000). */
  fragLoads: PlayerFrag[];
  hlsVersion: string;
  supported: boolean;
  src: string;
  currentTime: number;
  paused: boolean;
  ended: boolean;
  readyState: number;
  videoWidth: number;
  videoHeight: number;
  bufferedEnd: number;
  totalVideoFrames: number;
  droppedVideoFrames: number;
  currentLevel: number;
  loadLevel: number;
  latency: number;
  manifestLevels: PlayerLevel[];
  levelSwitches: number[];
  /** Levels asked for with switchLevel(). */
  requestedSwitches: number[];
  /** Main fragments loaded, by level index. */
  fragsLoaded: Record<string, number>;
  errors: PlayerError[];
  waitingTotal: number;
  /** `waiting` events after the first `playing`: stalls the viewer sees. */
  waitingAfterStart: number;
  /** hls.js BUFFER_STALLED_ERROR / BUFFER_NUDGE_ON_STALL / BUFFER_SEEK_OVER_HOLE. */
  stalledErrors: number;
  playingEvents: number;
  firstPlayingWallMs: number | null;
  startCurrentTime: number | null;
  wallNowMs: number;
}

function isSnapshot(value: unknown): value is PlayerSnapshot {
  return typeof value === 'object' && value !== null && typeof (value as { currentTime?: unknown }).currentTime === 'number' && Array.isArray((value as { errors?: unknown }).errors);
}

export interface Player {
  page: Page;
  /** Chromium's version. */
  version: string;
  /** Console lines and page errors of the page. */
  console: string[];
  snapshot(): Promise<PlayerSnapshot>;
  /** Ask hls.js to switch to `level` at the next fragment (hls.nextLevel). */
  switchLevel(level: number): Promise<void>;
  screenshot(path: string): Promise<void>;
  close(): Promise<void>;
}

/** Why Chromium cannot be used here, or undefined when it can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (Debian: apt-get install chromium)`;
}

/** Launch Chromium with a fresh user-data dir and open the player page on `src`. */
export async function openPlayer(pageServer: PageServer, src: string, hlsConfig?: Record<string, unknown>): Promise<Player> {
  const userDataDir = tempDir('chromium');
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 660, height: 420 },
      timeout: 30_000,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const lines: string[] = [];
    page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
    const cfg = hlsConfig ? `&cfg=${encodeURIComponent(JSON.stringify(hlsConfig))}` : '';
    await page.goto(`${pageServer.url}/?src=${encodeURIComponent(src)}${cfg}`, { timeout: 15_000 });
    const ctx = context;
    const userAgent: unknown = await page.evaluate('navigator.userAgent');
    const version: string = ctx.browser()?.version() ?? /Chrome\/([\d.]+)/.exec(String(userAgent))?.[1] ?? String(userAgent);
    return {
      page,
      version,
      console: lines,
      async snapshot() {
        const value: unknown = await page.evaluate('window.__player()');
        if (!isSnapshot(value)) throw new Error(`unexpected player state: ${JSON.stringify(value)}`);
        return value;
      },
      async switchLevel(level: number) {
        await page.evaluate(`window.__switchLevel(${Math.trunc(level)})`);
      },
      async screenshot(path: string) {
        await page.screenshot({ path });
      },
      async close() {
        await ctx.close().catch(() => undefined);
        rmSync(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await context?.close().catch(() => undefined);
    rmSync(userDataDir, { recursive: true, force: true });
    throw error;
  }
}
