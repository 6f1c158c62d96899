/**
 * HLS end-to-end helpers: a daemon against the embedded Kaltura emulator with custom
 * entries and conversion profiles, a detailed live test signal, plain HTTP requests (raw
 * headers, HEAD), playlist parsing (RFC 8216), and an MPEG-TS reader that finds the
 * program's streams, every PES's first PTS and the timed ID3 tags.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { validateConfig, type KliveConfigInput } from '../../src/config';
import { startDaemon, type DaemonHandle } from '../../src/daemon';
import { demoFixtures, DEMO_ENTRY_TOKEN, MEDIA_SERVER_ADMIN_SECRET, startKalturaEmulator, type EmulatorFixtures, type FixtureEntry, type KalturaEmulator } from '../../src/dev';
import { createLogger } from '../../src/log';
import { FFMPEG, FFPROBE, run, sleep, start, tempDir, type Running } from './media';

// ---------------------------------------------------------------------------------------------
// The daemon and its Kaltura

export const HLS_TEST_HOST = 'klive-hls-test-node';

/** Flavor params of the demo fixtures (src/dev/demo-fixtures.ts). */
export const FLAVOR = { source: 32, hd720: 42, sd480: 43, sd360: 44, audioOnly: 45 } as const;

export interface TestEntry {
  /** `^[01]_[0-9a-z]{8}$`. */
  id: string;
  flavorParamsIds: number[];
  /** ms; default 2000. */
  segmentDuration?: number;
  /** Default 0 (no DVR). */
  dvrStatus?: number;
  /** Default 0 (not recorded). */
  recordStatus?: number;
  recordedEntryId?: string;
  /** SRT pass (the SRT passphrase; its encrypted form is an `ep=` token). */
  srtPass?: string;
}

/**
 * The demo fixtures plus one entry and one conversion profile per `entries` item (profile
 * ids from 2001 on), each entry published with the demo token.
 */
export function fixturesWith(entries: TestEntry[]): EmulatorFixtures {
  const fixtures = demoFixtures();
  entries.forEach((e, i) => {
    const profileId = 2001 + i;
    fixtures.conversionProfiles.push({ id: profileId, partnerId: 102, name: `test profile ${e.id}`, flavorParamsIds: e.flavorParamsIds });
    const entry: FixtureEntry = {
      id: e.id,
      partnerId: 102,
      name: `test entry ${e.id}`,
      token: DEMO_ENTRY_TOKEN,
      conversionProfileId: profileId,
      recordStatus: e.recordStatus ?? 0,
      ...(e.recordedEntryId ? { recordedEntryId: e.recordedEntryId } : {}),
      ...(e.srtPass ? { srtPass: e.srtPass } : {}),
      dvrStatus: e.dvrStatus ?? 0,
      dvrWindow: 120,
      segmentDuration: e.segmentDuration ?? 2000,
    };
    fixtures.entries.push(entry);
  });
  return fixtures;
}

export interface HlsEnv {
  emulator: KalturaEmulator;
  daemon: DaemonHandle;
  /** Log lines of the daemon (JSON). */
  lines: string[];
  /** `http://127.0.0.1:<rtmp port>`: the origin on the RTMP port. */
  origin: string;
  /** The contract's publish URL of `<entryId>_<n>` (server index `i`, default 0). */
  publishUrl(entryId: string, n?: number, i?: 0 | 1): string;
  /**
   * Kaltura's SRT URL of an entry (`#:::e=…,st=0,p=<token>`), when SRT is on; `streamId` overrides the stream id.
   * The caller waits up to 15 s for the handshake (libsrt's default is 3 s): admission asks Kaltura
   * while the handshake waits, which can take longer on a loaded test machine.
   */
  srtUrl(entryId: string, streamId?: string): string;
  /** The RTMPS form of publishUrl, when RTMPS is on. */
  rtmpsUrl(entryId: string, token?: string): string;
  stop(): Promise<void>;
}

export interface HlsEnvOptions {
  fixtures: EmulatorFixtures;
  limitOrigin?: KliveConfigInput['limitOrigin'];
  http?: KliveConfigInput['http'];
  /** Default: recording into a fresh temporary directory. */
  recording?: KliveConfigInput['recording'];
  hls?: KliveConfigInput['hls'];
  workMode?: KliveConfigInput['workMode'];
  /** Merged over the emulator's URL and the media-server partner's secret (eCDN: a partner's own). */
  kaltura?: { partnerId?: number; adminSecret?: string; registrationRefreshSeconds?: number };
  /** This server's node hostname; default HLS_TEST_HOST. */
  hostname?: string;
  /** RTMP (and HLS) bind address; default 127.0.0.1. */
  rtmpHost?: string;
  /** Default: a new emulator with `fixtures`. */
  emulator?: KalturaEmulator;
  /** The control plane (off by default: no admin token). */
  admin?: KliveConfigInput['admin'];
  /** SRT ingest (off by default). */
  srt?: KliveConfigInput['srt'];
  /** RTMPS ingest (off by default). */
  rtmps?: KliveConfigInput['rtmps'];
}

/** The emulator and a daemon against it (RTMP + HTTP on one ephemeral port). */
export async function startHlsEnv(options: HlsEnvOptions): Promise<HlsEnv> {
  const emulator = options.emulator ?? (await startKalturaEmulator({ fixtures: options.fixtures }));
  emulator.setRequireRegisteredMediaServer(true);
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', format: 'json', sink: { write: (line: string) => lines.push(line) } });
  const config = validateConfig({
    kaltura: { serviceUrl: emulator.url, adminSecret: MEDIA_SERVER_ADMIN_SECRET, timeoutMs: 5000, heartbeatIntervalSeconds: 0, ...options.kaltura },
    hostname: options.hostname ?? HLS_TEST_HOST,
    rtmp: { host: options.rtmpHost ?? '127.0.0.1', port: 0 },
    ...(options.http ? { http: options.http } : {}),
    ...(options.limitOrigin ? { limitOrigin: options.limitOrigin } : {}),
    ...(options.workMode ? { workMode: options.workMode } : {}),
    ...(options.admin ? { admin: options.admin } : {}),
    ...(options.srt ? { srt: options.srt } : {}),
    ...(options.rtmps ? { rtmps: options.rtmps } : {}),
    recording: { directory: tempDir('rec'), ...options.recording },
    hls: { directory: tempDir('hls-store'), ...options.hls },
  });
  let daemon: DaemonHandle;
  try {
    daemon = await startDaemon(config, { logger });
  } catch (error) {
    if (!options.emulator) await emulator.stop();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    emulator,
    daemon,
    lines,
    origin: `http://${options.rtmpHost ?? '127.0.0.1'}:${daemon.rtmpPort}`,
    publishUrl: (entryId, n = 1, i = 0) => `rtmp://${options.rtmpHost ?? '127.0.0.1'}:${daemon.rtmpPort}/kLive/?p=102&e=${entryId}&i=${i}&t=${DEMO_ENTRY_TOKEN}/${entryId}_${n}`,
    srtUrl: (entryId, streamId) => `srt://${options.rtmpHost ?? '127.0.0.1'}:${daemon.srtPort}?connect_timeout=15000&streamid=${streamId ?? `#:::e=${entryId},st=0,p=${DEMO_ENTRY_TOKEN}`}`,
    rtmpsUrl: (entryId, token = DEMO_ENTRY_TOKEN) => `rtmps://${options.rtmpHost ?? '127.0.0.1'}:${daemon.rtmpsPort}/kLive/?p=102&e=${entryId}&i=0&t=${token}/${entryId}_1`,
    stop() {
      stopping ??= (async () => {
        await daemon.stop();
        if (!options.emulator) await emulator.stop();
      })();
      return stopping;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Publisher

export interface DetailedSource {
  seconds: number;
  /** Default 1280x720. */
  size?: string;
  /** Default 30. */
  rate?: number;
  /** Source video bit rate, kbit/s; default 3000. */
  videoKbps?: number;
  /** Keyframe interval in frames; default one second. */
  gop?: number;
  /** Grain strength of the noise filter (0 = none); default 16. */
  noise?: number;
  /**
   * Also put `videocodecidstring: H264` and `audiocodecidstring: AAC` in onMetaData, the
   * strings the old server derived from the numeric codec ids before asking Kaltura for the
   * transcode template (TemplateControlModule): with them Kaltura passes AAC audio through.
   */
  codecIdStrings?: boolean;
}

/**
 * Publish a live H.264/AAC test signal with enough detail (testsrc2 + temporal noise) that a
 * transcoder at a few hundred kbit/s spends its whole budget: ultrafast x264 at a capped
 * bit rate, 48 kHz stereo AAC.
 */
export function publishDetailed(url: string, source: DetailedSource, timeoutMs = 120_000): Running {
  const { seconds, size = '1280x720', rate = 30, videoKbps = 3000, gop = rate, noise = 16, codecIdStrings = false } = source;
  const video = noise > 0 ? `testsrc2=size=${size}:rate=${rate},noise=alls=${noise}:allf=t` : `testsrc2=size=${size}:rate=${rate}`;
  return start(
    FFMPEG,
    [
      '-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', video,
      '-f', 'lavfi', '-i', 'sine=frequency=440:beep_factor=4:sample_rate=48000',
      '-t', String(seconds),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
      '-b:v', `${videoKbps}k`, '-maxrate', `${videoKbps}k`, '-bufsize', `${videoKbps}k`, '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
      ...(codecIdStrings ? ['-metadata', 'videocodecidstring=H264', '-metadata', 'audiocodecidstring=AAC'] : []),
      ...(url.startsWith('srt:') ? ['-f', 'mpegts'] : ['-f', 'flv']), url,
    ],
    timeoutMs,
  );
}

// ---------------------------------------------------------------------------------------------
// Polling

/** Polls `check` until it returns a value (not undefined/false), failing after `ms`. */
export async function until<T>(what: string, ms: number, check: () => T | undefined | false | Promise<T | undefined | false>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${reason}`);
    }
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Header names exactly as sent, lower-cased. */
  headerNames: string[];
  body: Buffer;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** One HTTP/1.1 request on a fresh connection (no agent), body read whole. */
export function httpRequest(url: string, options: HttpOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false, timeout: options.timeoutMs ?? 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const headerNames: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) headerNames.push(res.rawHeaders[i].toLowerCase());
        resolve({ status: res.statusCode ?? 0, headers: res.headers, headerNames, body: Buffer.concat(chunks) });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${options.method ?? 'GET'} ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET `url`, which must answer 200; the body. */
export async function getOk(url: string, headers?: Record<string, string>): Promise<Buffer> {
  const r = await httpRequest(url, { headers });
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
  return r.body;
}

/** GET `url`; the text when it answers 200, else undefined. */
export async function getTextIfOk(url: string, headers?: Record<string, string>): Promise<string | undefined> {
  const r = await httpRequest(url, { headers });
  return r.status === 200 ? r.body.toString('utf8') : undefined;
}

// ---------------------------------------------------------------------------------------------
// Playlists

/** Parse an RFC 8216 attribute list (`A=1,B="x,y",C=0x1F`). */
export function parseAttributes(list: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)(?:,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(list)) !== null) {
    if (m[0] === '') break;
    const value = m[2];
    out[m[1]] = value.startsWith('"') ? value.slice(1, -1) : value;
  }
  return out;
}

export interface Variant {
  uri: string;
  attributes: Record<string, string>;
  bandwidth: number;
  resolution?: { width: number; height: number };
  codecs: string[];
}

export function parseMaster(text: string): Variant[] {
  const lines = text.split('\n').map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error(`not a playlist: ${text.slice(0, 100)}`);
  const variants: Variant[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('#EXT-X-STREAM-INF:')) continue;
    const attributes = parseAttributes(lines[i].slice('#EXT-X-STREAM-INF:'.length));
    let j = i + 1;
    while (j < lines.length && (lines[j] === '' || lines[j].startsWith('#'))) j++;
    const res = /^(\d+)x(\d+)$/.exec(attributes.RESOLUTION ?? '');
    variants.push({
      uri: lines[j] ?? '',
      attributes,
      bandwidth: Number(attributes.BANDWIDTH),
      resolution: res ? { width: Number(res[1]), height: Number(res[2]) } : undefined,
      codecs: (attributes.CODECS ?? '').split(',').filter((c) => c !== ''),
    });
    i = j;
  }
  return variants;
}

export interface MediaSegment {
  seq: number;
  uri: string;
  /** EXTINF, seconds. */
  duration: number;
  /** EXT-X-PROGRAM-DATE-TIME, Unix ms. */
  programDateTime?: number;
  /** An EXT-X-DISCONTINUITY precedes it. */
  discontinuity: boolean;
}

export interface MediaPlaylist {
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence: number;
  segments: MediaSegment[];
  endList: boolean;
}

export function parseMedia(text: string): MediaPlaylist {
  const lines = text.split('\n').map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error(`not a playlist: ${text.slice(0, 100)}`);
  const playlist: MediaPlaylist = { targetDuration: NaN, mediaSequence: 0, discontinuitySequence: 0, segments: [], endList: false };
  let duration: number | undefined;
  let pdt: number | undefined;
  let discontinuity = false;
  for (const line of lines) {
    if (line.startsWith('#EXT-X-TARGETDURATION:')) playlist.targetDuration = Number(line.split(':')[1]);
    else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) playlist.mediaSequence = Number(line.split(':')[1]);
    else if (line.startsWith('#EXT-X-DISCONTINUITY-SEQUENCE:')) playlist.discontinuitySequence = Number(line.split(':')[1]);
    else if (line === '#EXT-X-DISCONTINUITY') discontinuity = true;
    else if (line === '#EXT-X-ENDLIST') playlist.endList = true;
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
    else if (line.startsWith('#EXTINF:')) duration = Number(line.slice('#EXTINF:'.length).split(',')[0]);
    else if (line !== '' && !line.startsWith('#')) {
      if (duration === undefined) throw new Error(`segment ${line} without EXTINF`);
      playlist.segments.push({ seq: playlist.mediaSequence + playlist.segments.length, uri: line, duration, programDateTime: pdt, discontinuity });
      duration = undefined;
      pdt = undefined;
      discontinuity = false;
    }
  }
  return playlist;
}

/** URL of the media playlist of `stream` and of the master playlist of `group`. */
export const mediaUrl = (origin: string, stream: string, query = '') => `${origin}/kLive/${stream}/playlist.m3u8${query}`;
export const masterUrl = (origin: string, group: string, query = '') => `${origin}/kLive/smil:${group}.smil/playlist.m3u8${query}`;

/** The media playlist of `stream`, or undefined while it is not served (404). */
export async function fetchMedia(origin: string, stream: string, headers?: Record<string, string>): Promise<MediaPlaylist | undefined> {
  const text = await getTextIfOk(mediaUrl(origin, stream), headers);
  return text === undefined ? undefined : parseMedia(text);
}

/** Waits until the media playlist of `stream` lists at least `n` segments. */
export function waitForSegments(origin: string, stream: string, n: number, ms: number, headers?: Record<string, string>): Promise<MediaPlaylist> {
  return until(`${n} segments of ${stream}`, ms, async () => {
    const p = await fetchMedia(origin, stream, headers);
    return p !== undefined && p.segments.length >= n ? p : undefined;
  }, 250);
}

/** The bytes of one segment of `stream`. */
export function fetchSegment(origin: string, stream: string, segment: MediaSegment, headers?: Record<string, string>): Promise<Buffer> {
  return getOk(`${origin}/kLive/${stream}/${segment.uri}`, headers);
}

// ---------------------------------------------------------------------------------------------
// MPEG-TS

export const STREAM_TYPE = { aac: 0x0f, h264: 0x1b, hevc: 0x24, metadata: 0x15 } as const;

export interface TsElementaryStream {
  pid: number;
  streamType: number;
}

export interface TsPes {
  pid: number;
  /** Index of the TS packet that starts it. */
  startPacket: number;
  streamId: number;
  /** 90 kHz. */
  pts?: number;
  dts?: number;
  payload: Buffer;
}

export interface TsFile {
  /** The PMT's elementary streams, in order. */
  streams: TsElementaryStream[];
  /** Every PES, in the order they end (sort by startPacket for the order they start). */
  pes: TsPes[];
  /** Packets that did not start with 0x47, or a short tail. */
  errors: number;
}

function readPts(b: Buffer, at: number): number {
  // 33 bits in 5 bytes with marker bits; multiplication keeps it exact past 2^32.
  return ((b[at] >> 1) & 0x07) * 2 ** 30 + ((b[at + 1] << 7) | (b[at + 2] >> 1)) * 2 ** 15 + ((b[at + 3] << 7) | (b[at + 4] >> 1));
}

function parsePes(pid: number, startPacket: number, data: Buffer): TsPes | undefined {
  if (data.length < 9 || data[0] !== 0 || data[1] !== 0 || data[2] !== 1) return undefined;
  const streamId = data[3];
  const flags = data[7];
  const headerLength = data[8];
  const pes: TsPes = { pid, startPacket, streamId, payload: data.subarray(9 + headerLength) };
  if (flags & 0x80) pes.pts = readPts(data, 9);
  if ((flags & 0xc0) === 0xc0) pes.dts = readPts(data, 14);
  const declared = data.readUInt16BE(4);
  if (declared > 0) pes.payload = data.subarray(9 + headerLength, 6 + declared);
  return pes;
}

/** Read a TS file: PAT → PMT → streams, and every PES with its timestamps. */
export function parseTs(buf: Buffer): TsFile {
  const file: TsFile = { streams: [], pes: [], errors: 0 };
  let pmtPid: number | undefined;
  const open = new Map<number, { startPacket: number; chunks: Buffer[] }>();
  const flush = (pid: number) => {
    const pending = open.get(pid);
    if (!pending) return;
    open.delete(pid);
    const pes = parsePes(pid, pending.startPacket, Buffer.concat(pending.chunks));
    if (pes) file.pes.push(pes);
  };
  for (let off = 0; off < buf.length; off += 188) {
    if (off + 188 > buf.length || buf[off] !== 0x47) {
      file.errors++;
      continue;
    }
    const pusi = (buf[off + 1] & 0x40) !== 0;
    const pid = ((buf[off + 1] & 0x1f) << 8) | buf[off + 2];
    const afc = (buf[off + 3] >> 4) & 0x03;
    let p = off + 4;
    if (afc & 0x02) p += 1 + buf[off + 4];
    if (!(afc & 0x01) || p >= off + 188) continue;
    const payload = buf.subarray(p, off + 188);
    if (pid === 0 || pid === pmtPid) {
      if (!pusi) continue;
      const section = payload.subarray(1 + payload[0]);
      const sectionLength = ((section[1] & 0x0f) << 8) | section[2];
      const end = 3 + sectionLength - 4; // before the CRC
      if (pid === 0) {
        for (let i = 8; i + 4 <= end; i += 4) {
          const program = section.readUInt16BE(i);
          if (program !== 0) pmtPid = section.readUInt16BE(i + 2) & 0x1fff;
        }
      } else if (file.streams.length === 0) {
        const programInfoLength = section.readUInt16BE(10) & 0x0fff;
        for (let i = 12 + programInfoLength; i + 5 <= end; ) {
          const streamType = section[i];
          const esPid = section.readUInt16BE(i + 1) & 0x1fff;
          const infoLength = section.readUInt16BE(i + 3) & 0x0fff;
          file.streams.push({ pid: esPid, streamType });
          i += 5 + infoLength;
        }
      }
      continue;
    }
    if (pusi) {
      flush(pid);
      open.set(pid, { startPacket: off / 188, chunks: [payload] });
    } else {
      open.get(pid)?.chunks.push(payload);
    }
  }
  for (const pid of [...open.keys()]) flush(pid);
  return file;
}

/** PID of the first stream of `streamType`, if any. */
export function pidOf(ts: TsFile, streamType: number): number | undefined {
  return ts.streams.find((s) => s.streamType === streamType)?.pid;
}

/** The smallest PTS of the PES of stream type `streamType`, in ms; undefined when absent. */
export function firstPtsMs(ts: TsFile, streamType: number): number | undefined {
  const pid = pidOf(ts, streamType);
  let min: number | undefined;
  for (const p of ts.pes) if (p.pid === pid && p.pts !== undefined) min = min === undefined ? p.pts : Math.min(min, p.pts);
  return min === undefined ? undefined : min / 90;
}

// ---------------------------------------------------------------------------------------------
// ID3

export interface Id3Frame {
  id: string;
  /** Text of a text frame (T***), decoded per its encoding byte; undefined for others. */
  text?: string;
  body: Buffer;
}

export interface Id3Tag {
  version: number;
  frames: Id3Frame[];
}

const syncsafe = (b: Buffer, at: number) => ((b[at] & 0x7f) << 21) | ((b[at + 1] & 0x7f) << 14) | ((b[at + 2] & 0x7f) << 7) | (b[at + 3] & 0x7f);

function decodeText(body: Buffer): string {
  const encoding = body[0];
  let raw = body.subarray(1);
  // Strip the terminator(s).
  if (encoding === 1 || encoding === 2) {
    while (raw.length >= 2 && raw[raw.length - 1] === 0 && raw[raw.length - 2] === 0) raw = raw.subarray(0, raw.length - 2);
    if (encoding === 2) return Buffer.from(raw).swap16().toString('utf16le');
    return raw.toString('utf16le').replace(/^\ufeff/, '');
  }
  while (raw.length > 0 && raw[raw.length - 1] === 0) raw = raw.subarray(0, raw.length - 1);
  return raw.toString(encoding === 0 ? 'latin1' : 'utf8');
}

/** Parse an ID3v2.3/2.4 tag (no unsynchronisation, no extended header). */
export function parseId3(buf: Buffer): Id3Tag {
  if (buf.length < 10 || buf.toString('latin1', 0, 3) !== 'ID3') throw new Error(`not an ID3 tag: ${buf.subarray(0, 10).toString('hex')}`);
  const version = buf[3];
  if (buf[5] & 0xc0) throw new Error(`ID3 flags ${buf[5].toString(16)} not supported`);
  const end = Math.min(buf.length, 10 + syncsafe(buf, 6));
  const frames: Id3Frame[] = [];
  for (let i = 10; i + 10 <= end; ) {
    const id = buf.toString('latin1', i, i + 4);
    if (!/^[A-Z0-9]{4}$/.test(id)) break; // padding
    const size = version >= 4 ? syncsafe(buf, i + 4) : buf.readUInt32BE(i + 4);
    const body = buf.subarray(i + 10, i + 10 + size);
    frames.push({ id, body, text: id.startsWith('T') && id !== 'TXXX' ? decodeText(body) : undefined });
    i += 10 + size;
  }
  return { version, frames };
}

export interface SyncPoint {
  /** The text of the tag's text frame. */
  text: string;
  frameId: string;
  /** PTS of the ID3 PES, ms. */
  ptsMs?: number;
  json: unknown;
}

/** Every timed ID3 tag of a segment (metadata stream, stream type 0x15), parsed. */
export function syncPoints(ts: TsFile): SyncPoint[] {
  const pid = pidOf(ts, STREAM_TYPE.metadata);
  if (pid === undefined) return [];
  return ts.pes
    .filter((p) => p.pid === pid)
    .map((p) => {
      const tag = parseId3(p.payload);
      const frame = tag.frames.find((f) => f.text !== undefined);
      if (!frame || frame.text === undefined) throw new Error(`ID3 tag without a text frame: ${tag.frames.map((f) => f.id).join(',')}`);
      return { text: frame.text, frameId: frame.id, ptsMs: p.pts === undefined ? undefined : p.pts / 90, json: JSON.parse(frame.text) as unknown };
    });
}

// ---------------------------------------------------------------------------------------------
// ffprobe

export interface ProbedStream {
  index: number;
  codec_type: string;
  codec_name: string;
  profile?: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
}

export interface ProbedPacket {
  stream_index: number;
  size: number;
  dts: number;
  duration: number;
  keyframe: boolean;
}

export interface ProbedFile {
  streams: ProbedStream[];
  packets: ProbedPacket[];
}

/** ffprobe streams and packets of a file (several segments concatenated are one TS). */
export async function ffprobeFile(path: string): Promise<ProbedFile> {
  const r = await run(FFPROBE, ['-v', 'error', '-of', 'json', '-show_streams', '-show_entries', 'packet=stream_index,size,dts_time,duration_time,flags', path], 60_000);
  if (r.code !== 0) throw new Error(`ffprobe ${path}: ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as {
    streams: ProbedStream[];
    packets?: Array<{ stream_index: number; size: string; dts_time?: string; duration_time?: string; flags?: string }>;
  };
  return {
    streams: parsed.streams,
    packets: (parsed.packets ?? [])
      .filter((p) => p.dts_time !== undefined)
      .map((p) => ({ stream_index: p.stream_index, size: Number(p.size), dts: Number(p.dts_time), duration: Number(p.duration_time ?? 0), keyframe: (p.flags ?? '').startsWith('K') })),
  };
}

/** Elementary-stream bit rate of the first stream of `type` (bytes over dts span + one packet). */
export function streamBitrate(probe: ProbedFile, type: 'video' | 'audio'): { bps: number; seconds: number; packets: number } | undefined {
  const stream = probe.streams.find((s) => s.codec_type === type);
  if (!stream) return undefined;
  const packets = probe.packets.filter((p) => p.stream_index === stream.index);
  if (packets.length < 2) return undefined;
  const dts = packets.map((p) => p.dts);
  const seconds = Math.max(...dts) - Math.min(...dts) + packets[packets.length - 1].duration;
  const bytes = packets.reduce((sum, p) => sum + p.size, 0);
  return { bps: (bytes * 8) / seconds, seconds, packets: packets.length };
}

/**
 * ffmpeg's own view of the timed ID3 packets of a file (`ffprobe -show_data` on the data
 * stream), each decoded from ffprobe's hex dump. ffmpeg 5.1's demuxer drops the first 5 bytes
 * of the metadata PES payload ("ID3" + version), so compare the text, not the whole tag.
 */
export async function ffprobeTimedId3(path: string): Promise<Buffer[]> {
  const r = await run(FFPROBE, ['-v', 'error', '-select_streams', 'd', '-show_data', '-show_entries', 'packet=pts_time,data', '-of', 'json', path], 30_000);
  if (r.code !== 0) throw new Error(`ffprobe ${path}: ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as { packets?: Array<{ data?: string }> };
  return (parsed.packets ?? []).map((p) => {
    // Lines like "00000010: 7b22 6f62 …  {"ob…": the hex groups between the offset and the text.
    const hex = (p.data ?? '')
      .split('\n')
      .map((line) => /^[0-9a-f]{8}: ((?:[0-9a-f]{2,4} ?)+)/.exec(line)?.[1] ?? '')
      .join('')
      .replace(/ /g, '');
    return Buffer.from(hex, 'hex');
  });
}

export { FFMPEG, FFPROBE };

// ---------------------------------------------------------------------------------------------
// Processes

export interface ChildProcessInfo {
  pid: number;
  comm: string;
  argv: string[];
}

/** The direct children of this process named `comm` (from /proc: pgrep -P without pgrep). */
export function childProcesses(comm: string): ChildProcessInfo[] {
  const out: ChildProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may contain spaces and parentheses.
      const close = stat.lastIndexOf(')');
      const processName = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (ppid !== process.pid || processName !== comm) continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
      out.push({ pid: Number(name), comm: processName, argv });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** True while a process with this pid exists (zombies included). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
