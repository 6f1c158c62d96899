/**
 * The emulator's data: partners, live entries, conversion profiles and flavor params, in the
 * shape of a JSON fixtures file. `loadFixtures` reads and validates such a file; every problem
 * names the file and the exact key so a hand-edited file is easy to fix.
 */
import { readFileSync } from 'node:fs';
import { EmulatorError } from './errors';

export interface FixturePartner {
  id: number;
  name: string;
  /** Admin secret; KS signatures are checked against it. Several may be given comma-separated, as Kaltura allows. */
  adminSecret: string;
  /** User secret (session.start with type USER only). */
  secret: string;
  /**
   * Partner permissions, e.g. FEATURE_LIVE_STREAM (needed for any liveStream call of a
   * partner > 0, as in Kaltura), FEATURE_LIVE_STREAM_KALTURA_RECORDING,
   * FEATURE_KALTURA_LIVE_STREAM_TRANSCODE, FEATURE_KALTURA_LIVE_DISABLE_SMART_TRANSCODING.
   */
  permissions: string[];
  /**
   * Partners this one may act for with the `partnerId` request param: '*' for all, or a
   * comma list of ids. Defaults to '*' for the media-server partner -5 and '' otherwise.
   */
  partnerGroup?: string;
  /** KS version session.start hands out (default 2). */
  ksVersion?: 1 | 2;
  /** Partner status: 1 active (default), 2 content blocked, 3 fully blocked (live actions answer SERVICE_FORBIDDEN_CONTENT_BLOCKED). */
  status?: number;
  /** Concurrent pass-through live entries (Partner::getMaxLiveStreamInputs, default 10). */
  maxLiveStreamInputs?: number;
  /** Concurrent transcoded live entries with FEATURE_KALTURA_LIVE_STREAM_TRANSCODE (default 10). */
  maxLiveStreamOutputs?: number;
}

/** An entry-server-node record: which media server holds the entry, as primary (0) or backup (1). */
export interface FixtureEntryServerNode {
  /** entryServerNode id, assigned when the API creates the node. */
  id?: number;
  hostName: string;
  index: number;
  /** KalturaEntryServerNodeStatus: STOPPED 0, PLAYABLE 1, BROADCASTING 2, AUTHENTICATED 3 (what authenticate stores). */
  status: number;
  /** Set by the API calls (ms since the epoch); fixture nodes without it never expire. */
  updatedAt?: number;
  /** Last PLAYABLE registration (Kaltura's media-server cache entry), ms. */
  playableAt?: number;
  applicationName?: string;
  /** The renditions this node serves (KalturaLiveEntryServerNode.streams), for playManifest's proxied master. */
  streams?: FixtureLiveStreamParams[];
}

/** KalturaLiveStreamParams: one rendition a media server serves. */
export interface FixtureLiveStreamParams {
  /** Flavor params id, as a string (Kaltura's flavorId). */
  flavorId: string;
  /** bps. */
  bitrate: number;
  width?: number;
  height?: number;
  /** Flavor codec; H.264 ('h264') and H.265 get no CODECS attribute in the master. */
  codec?: string;
}

export interface FixtureEntry {
  /** `^[01]_[0-9a-z]{8}$`. */
  id: string;
  partnerId: number;
  name: string;
  /** The stream password the encoder must present (`t=`, SRT `p=`). */
  token: string;
  /** SRT pass (10-79 characters): the SRT passphrase; its encrypted form (`ep=`) is a token too. */
  srtPass?: string;
  conversionProfileId: number;
  /** KalturaRecordStatus: 0 disabled, 1 append, 2 per session. */
  recordStatus: number;
  /** KalturaDVRStatus: 0 disabled, 1 enabled. */
  dvrStatus: number;
  /** Minutes. */
  dvrWindow: number;
  /** Milliseconds. */
  segmentDuration: number;
  recordedEntryId?: string;
  mediaServerNodes?: FixtureEntryServerNode[];
}

export interface FixtureConversionProfile {
  id: number;
  partnerId: number;
  name: string;
  /** Flavor params of the profile, in the order they are served. */
  flavorParamsIds: number[];
}

export type FixtureVideoCodec = 'copy' | 'h264' | 'h264b' | 'h264m' | 'h264h' | 'h263' | 'flv' | 'vp6' | '';
export type FixtureAudioCodec = 'copy' | 'aac' | 'aache' | '';

export interface FixtureFlavorParams {
  id: number;
  name: string;
  /** Wowza encode name; defaults to the id, as in Kaltura. */
  systemName?: string;
  /**
   * Comma list. 'source' marks the passthrough ingest flavor, 'ingest' a flavor the encoder
   * sends itself (no transcode), 'optional_flavor' one skipped when larger than the source,
   * 'audio_only', 'recording_anchor' the asset whose recording drives the recorded entry.
   */
  tags: string;
  videoCodec: FixtureVideoCodec;
  /** kbps. */
  videoBitrate: number;
  width: number;
  height: number;
  audioCodec: FixtureAudioCodec;
  /** kbps. */
  audioBitrate: number;
  /** Kaltura picks the AAC encoder only when sample rate or channels are set. */
  audioSampleRate?: number;
  audioChannels?: number;
  frameRate?: number;
  maxFrameRate?: number;
  /** Same as having the 'source' tag. */
  isSource?: boolean;
  /**
   * Stream-name suffix this flavor is ingested on (`<entry>_<suffix>`). Defaults to '1' for
   * the source flavor, as Kaltura's source live params (id 32) has.
   */
  streamSuffix?: string;
  /** JSON text, e.g. `{"constantBitrate": true}` or `{"skipFrameCount": 2}`. */
  conversionEnginesExtraParams?: string;
}

export interface FixtureServerNode {
  id?: number;
  hostName: string;
  partnerId?: number;
  name?: string;
  /** KalturaServerNodeStatus: 1 active, 2 disabled, 4 not registered. Default 1. */
  status?: number;
  transcoder?: string;
  GPUID?: number;
}

export interface EmulatorFixtures {
  partners: FixturePartner[];
  entries: FixtureEntry[];
  conversionProfiles: FixtureConversionProfile[];
  flavorParams: FixtureFlavorParams[];
  serverNodes?: FixtureServerNode[];
  /**
   * When true, liveStream.authenticate with a hostname answers MEDIA_SERVER_NOT_FOUND unless a
   * non-disabled server node with that hostName is registered (the real Kaltura rule; the
   * daemon registers its node with serverNode.reportStatus). Default true; false is a dev laxity.
   */
  requireRegisteredMediaServer?: boolean;
  /**
   * Longest recording of a recorded entry, ms: kaltura/server's kConf
   * `(max_live_recording_duration_hours + 1) h`, default (24 + 1) h. appendRecording answers
   * LIVE_STREAM_EXCEEDED_MAX_RECORDED_DURATION once the recorded entry would pass it.
   */
  maxRecordingDurationMs?: number;
}

export const ENTRY_ID_PATTERN = /^[01]_[0-9a-z]{8}$/;

/** Reads and validates a fixtures JSON file. */
export function loadFixtures(path: string): EmulatorFixtures {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new EmulatorError('FIXTURES_UNREADABLE', `${path}: cannot read fixtures: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new EmulatorError('FIXTURES_INVALID', `${path}: not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return validateFixtures(data, path);
}

/** Validates fixtures already in memory; `source` names them in error messages. */
export function validateFixtures(data: unknown, source = 'fixtures'): EmulatorFixtures {
  const v = new Validator(source);
  const root = v.object(data, '');
  const fixtures: EmulatorFixtures = {
    partners: v.array(root, 'partners').map((item, i) => partner(v, item, `partners[${i}]`)),
    entries: v.array(root, 'entries').map((item, i) => entry(v, item, `entries[${i}]`)),
    conversionProfiles: v
      .array(root, 'conversionProfiles')
      .map((item, i) => profile(v, item, `conversionProfiles[${i}]`)),
    flavorParams: v.array(root, 'flavorParams').map((item, i) => flavor(v, item, `flavorParams[${i}]`)),
  };
  if (root.serverNodes !== undefined) {
    fixtures.serverNodes = v.array(root, 'serverNodes').map((item, i) => serverNode(v, item, `serverNodes[${i}]`));
  }
  const require = v.optBool(root, 'requireRegisteredMediaServer', '');
  if (require !== undefined) fixtures.requireRegisteredMediaServer = require;
  const maxRecording = v.optNum(root, 'maxRecordingDurationMs', '');
  if (maxRecording !== undefined) {
    if (!(maxRecording > 0)) v.fail('maxRecordingDurationMs', 'must be a positive number of milliseconds');
    fixtures.maxRecordingDurationMs = maxRecording;
  }
  crossCheck(v, fixtures);
  return fixtures;
}

function partner(v: Validator, item: unknown, at: string): FixturePartner {
  const o = v.object(item, at);
  const p: FixturePartner = {
    id: v.int(o, 'id', at),
    name: v.str(o, 'name', at),
    adminSecret: v.str(o, 'adminSecret', at, true),
    secret: v.str(o, 'secret', at, true),
    permissions: v.strArray(o, 'permissions', at),
  };
  const group = v.optStr(o, 'partnerGroup', at);
  if (group !== undefined) p.partnerGroup = group;
  if (o.ksVersion !== undefined) {
    if (o.ksVersion !== 1 && o.ksVersion !== 2) v.fail(`${at}.ksVersion`, 'must be 1 or 2');
    p.ksVersion = o.ksVersion;
  }
  for (const key of ['status', 'maxLiveStreamInputs', 'maxLiveStreamOutputs'] as const) {
    if (o[key] !== undefined) p[key] = v.int(o, key, at);
  }
  return p;
}

function entry(v: Validator, item: unknown, at: string): FixtureEntry {
  const o = v.object(item, at);
  const e: FixtureEntry = {
    id: v.str(o, 'id', at, true),
    partnerId: v.int(o, 'partnerId', at),
    name: v.str(o, 'name', at),
    token: v.str(o, 'token', at, true),
    conversionProfileId: v.int(o, 'conversionProfileId', at),
    recordStatus: v.int(o, 'recordStatus', at),
    dvrStatus: v.int(o, 'dvrStatus', at),
    dvrWindow: v.num(o, 'dvrWindow', at),
    segmentDuration: v.num(o, 'segmentDuration', at),
  };
  if (!ENTRY_ID_PATTERN.test(e.id)) v.fail(`${at}.id`, `"${e.id}" does not match ${ENTRY_ID_PATTERN}`);
  const recorded = v.optStr(o, 'recordedEntryId', at);
  if (recorded !== undefined) e.recordedEntryId = recorded;
  const srtPass = v.optStr(o, 'srtPass', at);
  if (srtPass !== undefined) {
    // KalturaLiveStreamEntry::validatePropertyMinMaxLength('srtPass', 10, 79).
    if (srtPass.length < 10 || srtPass.length > 79) v.fail(`${at}.srtPass`, 'must be 10..79 characters');
    e.srtPass = srtPass;
  }
  if (o.mediaServerNodes !== undefined) {
    e.mediaServerNodes = v.array(o, 'mediaServerNodes', at).map((n, i) => {
      const path = `${at}.mediaServerNodes[${i}]`;
      const no = v.object(n, path);
      return { hostName: v.str(no, 'hostName', path, true), index: v.int(no, 'index', path), status: v.int(no, 'status', path) };
    });
  }
  return e;
}

function profile(v: Validator, item: unknown, at: string): FixtureConversionProfile {
  const o = v.object(item, at);
  return {
    id: v.int(o, 'id', at),
    partnerId: v.int(o, 'partnerId', at),
    name: v.str(o, 'name', at),
    flavorParamsIds: v.array(o, 'flavorParamsIds', at).map((id, i) => {
      if (typeof id !== 'number' || !Number.isInteger(id)) v.fail(`${at}.flavorParamsIds[${i}]`, 'must be an integer');
      return id as number;
    }),
  };
}

const VIDEO_CODECS: readonly string[] = ['copy', 'h264', 'h264b', 'h264m', 'h264h', 'h263', 'flv', 'vp6', ''];
const AUDIO_CODECS: readonly string[] = ['copy', 'aac', 'aache', ''];

function flavor(v: Validator, item: unknown, at: string): FixtureFlavorParams {
  const o = v.object(item, at);
  const videoCodec = v.str(o, 'videoCodec', at);
  if (!VIDEO_CODECS.includes(videoCodec)) v.fail(`${at}.videoCodec`, `must be one of ${JSON.stringify(VIDEO_CODECS)}`);
  const audioCodec = v.str(o, 'audioCodec', at);
  if (!AUDIO_CODECS.includes(audioCodec)) v.fail(`${at}.audioCodec`, `must be one of ${JSON.stringify(AUDIO_CODECS)}`);
  const f: FixtureFlavorParams = {
    id: v.int(o, 'id', at),
    name: v.str(o, 'name', at),
    tags: v.str(o, 'tags', at),
    videoCodec: videoCodec as FixtureVideoCodec,
    videoBitrate: v.num(o, 'videoBitrate', at),
    width: v.int(o, 'width', at),
    height: v.int(o, 'height', at),
    audioCodec: audioCodec as FixtureAudioCodec,
    audioBitrate: v.num(o, 'audioBitrate', at),
  };
  const systemName = v.optStr(o, 'systemName', at);
  if (systemName !== undefined) f.systemName = systemName;
  for (const key of ['audioSampleRate', 'audioChannels', 'frameRate', 'maxFrameRate'] as const) {
    const n = v.optNum(o, key, at);
    if (n !== undefined) f[key] = n;
  }
  const isSource = v.optBool(o, 'isSource', at);
  if (isSource !== undefined) f.isSource = isSource;
  const suffix = v.optStr(o, 'streamSuffix', at);
  if (suffix !== undefined) f.streamSuffix = suffix;
  const extra = v.optStr(o, 'conversionEnginesExtraParams', at);
  if (extra !== undefined) f.conversionEnginesExtraParams = extra;
  return f;
}

function serverNode(v: Validator, item: unknown, at: string): FixtureServerNode {
  const o = v.object(item, at);
  const n: FixtureServerNode = { hostName: v.str(o, 'hostName', at, true) };
  for (const key of ['id', 'partnerId', 'status', 'GPUID'] as const) {
    if (o[key] !== undefined) n[key] = v.int(o, key, at);
  }
  const name = v.optStr(o, 'name', at);
  if (name !== undefined) n.name = name;
  const transcoder = v.optStr(o, 'transcoder', at);
  if (transcoder !== undefined) n.transcoder = transcoder;
  return n;
}

/** References between sections must resolve, ids must be unique. */
function crossCheck(v: Validator, f: EmulatorFixtures): void {
  unique(v, f.partners.map((p) => p.id), 'partners');
  unique(v, f.entries.map((e) => e.id), 'entries');
  unique(v, f.conversionProfiles.map((p) => p.id), 'conversionProfiles');
  unique(v, f.flavorParams.map((p) => p.id), 'flavorParams');
  const partners = new Set(f.partners.map((p) => p.id));
  const profiles = new Set(f.conversionProfiles.map((p) => p.id));
  const flavors = new Set(f.flavorParams.map((p) => p.id));
  f.entries.forEach((e, i) => {
    if (!partners.has(e.partnerId)) v.fail(`entries[${i}].partnerId`, `partner ${e.partnerId} is not in partners`);
    if (!profiles.has(e.conversionProfileId)) {
      v.fail(`entries[${i}].conversionProfileId`, `conversion profile ${e.conversionProfileId} is not in conversionProfiles`);
    }
  });
  f.conversionProfiles.forEach((p, i) => {
    if (!partners.has(p.partnerId) && p.partnerId !== 0) {
      v.fail(`conversionProfiles[${i}].partnerId`, `partner ${p.partnerId} is not in partners`);
    }
    p.flavorParamsIds.forEach((id, j) => {
      if (!flavors.has(id)) v.fail(`conversionProfiles[${i}].flavorParamsIds[${j}]`, `flavor params ${id} is not in flavorParams`);
    });
  });
}

function unique(v: Validator, ids: Array<string | number>, section: string): void {
  const seen = new Set<string | number>();
  ids.forEach((id, i) => {
    if (seen.has(id)) v.fail(`${section}[${i}].id`, `duplicate id ${JSON.stringify(id)}`);
    seen.add(id);
  });
}

type Obj = Record<string, unknown>;

/** Small typed reader whose every failure names the source and the key path. */
class Validator {
  constructor(private readonly source: string) {}

  fail(path: string, problem: string): never {
    throw new EmulatorError('FIXTURES_INVALID', `${this.source}: ${path || '(root)'}: ${problem}`);
  }

  object(value: unknown, path: string): Obj {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, 'must be an object');
    return value as Obj;
  }

  array(o: Obj, key: string, at = ''): unknown[] {
    const value = o[key];
    if (!Array.isArray(value)) this.fail(join(at, key), value === undefined ? 'is missing (an array)' : 'must be an array');
    return value;
  }

  str(o: Obj, key: string, at: string, nonEmpty = false): string {
    const value = o[key];
    if (typeof value !== 'string') this.fail(join(at, key), value === undefined ? 'is missing (a string)' : 'must be a string');
    if (nonEmpty && value === '') this.fail(join(at, key), 'must not be empty');
    return value;
  }

  optStr(o: Obj, key: string, at: string): string | undefined {
    return o[key] === undefined ? undefined : this.str(o, key, at);
  }

  num(o: Obj, key: string, at: string): number {
    const value = o[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.fail(join(at, key), value === undefined ? 'is missing (a number)' : 'must be a number');
    }
    return value;
  }

  optNum(o: Obj, key: string, at: string): number | undefined {
    return o[key] === undefined ? undefined : this.num(o, key, at);
  }

  int(o: Obj, key: string, at: string): number {
    const value = this.num(o, key, at);
    if (!Number.isInteger(value)) this.fail(join(at, key), 'must be an integer');
    return value;
  }

  optBool(o: Obj, key: string, at: string): boolean | undefined {
    const value = o[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') this.fail(join(at, key), 'must be true or false');
    return value;
  }

  strArray(o: Obj, key: string, at: string): string[] {
    return this.array(o, key, at).map((item, i) => {
      if (typeof item !== 'string') this.fail(`${join(at, key)}[${i}]`, 'must be a string');
      return item;
    });
  }
}

function join(at: string, key: string): string {
  return at === '' ? key : `${at}.${key}`;
}
