/**
 * Conversion-profile template → typed transcode plan.
 *
 * Kaltura answers `wowza_liveConversionProfile.serve` with a Wowza Transcoder template
 * (kaltura/server plugins/media/wowza/services/LiveConversionProfileService.php; the emulator's
 * `src/dev/conversion-profile-xml.ts` reproduces it):
 *
 * ```
 * Root/Transcode/Encodes/Encode (repeated): Enable, Name, StreamName, Video{…}, Audio{Codec, Bitrate}
 *               /Decode/Video: Deinterlace, Implementation
 *               /StreamNameGroups/StreamNameGroup (repeated): Name, StreamName, Members/Member/EncodeName
 *               /Properties/Property (repeated): Name, Value, Type
 * ```
 *
 * The parse is strict where a mistake would produce the wrong ladder (unknown codecs, unreadable
 * numbers, duplicate names) and lenient where Wowza was (a missing `Enable` means enabled):
 * the caller refuses the stream with the error's message, so a template we cannot honour fails
 * at publish time instead of producing renditions nobody asked for.
 */
import { XMLParser } from 'fast-xml-parser';
import { TranscodePlanError } from './errors';

export type VideoCodec = 'passthrough' | 'h264' | 'h263' | 'disabled';
export type AudioCodec = 'passthrough' | 'aac' | 'disabled';
export type FitMode = 'match-source' | 'fit-width' | 'fit-height';
export type H264Profile = 'baseline' | 'main' | 'high';

export interface FrameSize {
  fitMode: FitMode;
  /** Target width (fit-width uses it; fit-height carries it but sizes by height, as Wowza did). */
  width?: number;
  /** Target height (fit-height uses it). */
  height?: number;
}

export interface KeyFrameInterval {
  /** Place keyframes where the source has them (segments line up across renditions). */
  followSource: boolean;
  /** Frames between keyframes when not following the source. */
  interval?: number;
}

export interface VideoEncode {
  codec: VideoCodec;
  /** Wowza transcoder implementation name ('default', or the node's, e.g. 'nvidia'). */
  transcoder?: string;
  /** GPU index from the media server node; -1 means none. */
  gpuId?: number;
  /** Encoder implementation hint, e.g. 'NVENC' when the source asked for GPU. */
  implementation?: string;
  frameSize?: FrameSize;
  profile?: H264Profile;
  bitrateBps?: number;
  keyFrameInterval?: KeyFrameInterval;
  /** Frames skipped after each encoded one (frame rate divided by skipFrameCount + 1). */
  skipFrameCount?: number;
  /** Encoder parameters by name (e.g. `mainconcept.bit_rate_mode` = '0' for constant bitrate). */
  parameters?: Record<string, string>;
}

export interface AudioEncode {
  codec: AudioCodec;
  bitrateBps?: number;
}

export interface TranscodeEncode {
  name: string;
  /** The rendition's stream name, `mp4:` prefix removed, `${SourceStreamName}` resolved. */
  streamName: string;
  enabled: boolean;
  video: VideoEncode;
  audio: AudioEncode;
}

export interface StreamNameGroup {
  name: string;
  /** Resolved stream name, e.g. `0_demo1234_1_all`. */
  streamName: string;
  /** Encode names, in template order. */
  members: string[];
}

export type PropertyValue = string | number | boolean;

export interface DecodeSettings {
  deinterlace: boolean;
  /** Decoder implementation hint, e.g. 'NVCUVID'. */
  implementation?: string;
}

export interface TranscodePlan {
  /** The publishing stream the template was served for. */
  sourceStreamName: string;
  /** Every encode in template order, disabled ones included (enabled: false). */
  encodes: TranscodeEncode[];
  groups: StreamNameGroup[];
  decode: DecodeSettings;
  /** Scaler implementation hint (Kaltura sends 'CUDA' with GPU sources). */
  scaleImplementation?: string;
  /** Transcode properties by name, typed by their `Type` (Double/Long/Integer → number). */
  properties: Record<string, PropertyValue>;
}

export interface PlanSource {
  /** The publishing stream name, e.g. `0_demo1234_1`; substituted for `${SourceStreamName}`. */
  streamName: string;
}

/** The enabled encodes, in template order. */
export function enabledEncodes(plan: TranscodePlan): TranscodeEncode[] {
  return plan.encodes.filter((e) => e.enabled);
}

/** True when the core can serve the encode as the source itself: nothing to decode or encode. */
export function isPassthroughEncode(encode: TranscodeEncode): boolean {
  return encode.video.codec === 'passthrough' && encode.audio.codec === 'passthrough';
}

/** False when every enabled encode is video + audio passthrough: no ffmpeg is started. */
export function planNeedsFfmpeg(plan: TranscodePlan): boolean {
  return enabledEncodes(plan).some((e) => !isPassthroughEncode(e));
}

// ---------------------------------------------------------------------------------------------
// XML access. fast-xml-parser turns one child into a value and several into an array, and an
// empty element into ''; these helpers read both shapes so a one-encode template and a
// five-encode one go through the same code.

type XmlValue = string | XmlObject | XmlValue[];
interface XmlObject {
  [name: string]: XmlValue;
}

const parser = new XMLParser({
  ignoreAttributes: true,
  // Keep every value a string: '0_demo1234_32' or a Name such as '0123' must not become numbers.
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  processEntities: true,
  htmlEntities: false,
});

function isObject(v: XmlValue | undefined): v is XmlObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Children named `name`, as a list whether there are none, one or many. */
function children(parent: XmlValue | undefined, name: string): XmlValue[] {
  if (!isObject(parent)) return [];
  const v = parent[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** The single child `name`; undefined when absent. Twice is an error: which one would win? */
function child(parent: XmlValue | undefined, name: string, where: () => string): XmlValue | undefined {
  const list = children(parent, name);
  if (list.length > 1) throw new TranscodePlanError('INVALID_ENCODE', `${where()}: <${name}> appears ${list.length} times`);
  return list[0];
}

function text(parent: XmlValue | undefined, name: string, where: () => string): string | undefined {
  const v = child(parent, name, where);
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  // An element with children where text is expected; '#text' is mixed content.
  if (isObject(v) && typeof v['#text'] === 'string' && Object.keys(v).length === 1) return v['#text'];
  throw new TranscodePlanError('INVALID_ENCODE', `${where()}: <${name}> must hold text`);
}

function requiredText(parent: XmlValue | undefined, name: string, where: () => string): string {
  const v = text(parent, name, where);
  if (v === undefined || v === '') throw new TranscodePlanError('INVALID_ENCODE', `${where()}: <${name}> is missing`);
  return v;
}

function integer(parent: XmlValue | undefined, name: string, where: () => string, min: number): number | undefined {
  const v = text(parent, name, where);
  if (v === undefined || v === '') return undefined;
  // Wowza templates may carry variables (${SourceVideoBitrate}); Kaltura's never do, and a
  // number we cannot read must not silently become a default.
  if (!/^-?\d+$/.test(v)) throw new TranscodePlanError('INVALID_ENCODE', `${where()}: <${name}> is not an integer: ${JSON.stringify(v)}`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new TranscodePlanError('INVALID_ENCODE', `${where()}: <${name}> is out of range: ${v}`);
  return n;
}

function boolean(value: string | undefined, fallback: boolean, what: () => string): boolean {
  if (value === undefined || value === '') return fallback;
  const v = value.toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new TranscodePlanError('INVALID_ENCODE', `${what()} must be true or false, not ${JSON.stringify(value)}`);
}

// ---------------------------------------------------------------------------------------------

/**
 * Parses the XML served by `wowza_liveConversionProfile.serve` for `source.streamName`.
 * Throws TranscodePlanError (INVALID_XML, NO_TRANSCODE, NO_ENCODES, INVALID_ENCODE,
 * UNSUPPORTED_SETTING, DUPLICATE_ENCODE, INVALID_GROUP) with a message fit for the publisher.
 */
export function parseTranscodePlan(xml: string, source: PlanSource): TranscodePlan {
  const stream = source.streamName;
  if (xml.trim() === '') {
    // Kaltura's file actions answer errors with an empty body and an X-Kaltura header.
    throw new TranscodePlanError('INVALID_XML', `Stream ${stream}: the conversion profile template is empty`);
  }
  let doc: XmlValue;
  try {
    doc = parser.parse(xml, true) as XmlValue;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new TranscodePlanError('INVALID_XML', `Stream ${stream}: the conversion profile template is not valid XML (${reason})`, { cause: e });
  }
  const top = () => `Stream ${stream}: conversion profile template`;
  const root = child(doc, 'Root', top);
  const transcode = child(root, 'Transcode', top);
  if (!isObject(transcode) && transcode !== '') {
    throw new TranscodePlanError('NO_TRANSCODE', `Stream ${stream}: the conversion profile template has no Root/Transcode element`);
  }

  const substitute = (name: string) => name.split('${SourceStreamName}').join(stream);
  const encodes: TranscodeEncode[] = [];
  const encodesNode = child(transcode, 'Encodes', top);
  children(encodesNode, 'Encode').forEach((node, i) => encodes.push(parseEncode(node, i, stream, substitute)));

  const names = new Set<string>();
  const streamNames = new Set<string>();
  for (const e of encodes) {
    if (names.has(e.name)) throw new TranscodePlanError('DUPLICATE_ENCODE', `Stream ${stream}: two encodes are named ${e.name}`);
    names.add(e.name);
    if (!e.enabled) continue;
    if (streamNames.has(e.streamName)) {
      throw new TranscodePlanError('DUPLICATE_ENCODE', `Stream ${stream}: two enabled encodes publish ${e.streamName}`);
    }
    streamNames.add(e.streamName);
  }
  if (!encodes.some((e) => e.enabled)) {
    // The old server's wording, so operators recognise it.
    throw new TranscodePlanError('NO_ENCODES', `Stream ${stream} has no ingest in conversion profile (no enabled encode in the transcode template)`);
  }

  const groups = children(child(transcode, 'StreamNameGroups', top), 'StreamNameGroup').map((node, i) =>
    parseGroup(node, i, stream, names, substitute),
  );

  const decodeVideo = child(child(transcode, 'Decode', top), 'Video', top);
  const decodeWhere = () => `${top()} Decode/Video`;
  const decode: DecodeSettings = { deinterlace: boolean(text(decodeVideo, 'Deinterlace', decodeWhere), false, () => `${decodeWhere()} Deinterlace`) };
  const decodeImpl = text(decodeVideo, 'Implementation', decodeWhere);
  if (decodeImpl) decode.implementation = decodeImpl;

  const plan: TranscodePlan = { sourceStreamName: stream, encodes, groups, decode, properties: parseProperties(transcode, stream) };
  const scaleImpl = text(child(transcode, 'Scale', top), 'Implementation', top);
  if (scaleImpl) plan.scaleImplementation = scaleImpl;
  return plan;
}

function parseEncode(node: XmlValue, index: number, stream: string, substitute: (s: string) => string): TranscodeEncode {
  let label = `Encode #${index + 1}`;
  const where = () => `Stream ${stream}: ${label}`;
  if (!isObject(node)) throw new TranscodePlanError('INVALID_ENCODE', `${where()} is empty`);
  const name = requiredText(node, 'Name', where);
  label = `encode ${name}`;
  const rawStreamName = requiredText(node, 'StreamName', where);
  // Wowza's `mp4:` prefix names the container for recording; the rendition's live name is the rest.
  const streamName = substitute(rawStreamName.replace(/^mp4:/i, ''));
  if (streamName === '') throw new TranscodePlanError('INVALID_ENCODE', `${where()}: <StreamName> is empty`);
  const enabled = boolean(text(node, 'Enable', where), true, () => `${where()}: <Enable>`);

  const videoNode = child(node, 'Video', where);
  const audioNode = child(node, 'Audio', where);
  if (videoNode === undefined) throw new TranscodePlanError('INVALID_ENCODE', `${where()}: <Video> is missing`);
  if (audioNode === undefined) throw new TranscodePlanError('INVALID_ENCODE', `${where()}: <Audio> is missing`);
  const video = parseVideo(videoNode, () => `${where()} Video`);
  const audio = parseAudio(audioNode, () => `${where()} Audio`);
  if (enabled && video.codec === 'disabled' && audio.codec === 'disabled') {
    throw new TranscodePlanError('INVALID_ENCODE', `${where()} disables both video and audio`);
  }
  return { name, streamName, enabled, video, audio };
}

function parseVideoCodec(value: string, where: () => string): VideoCodec {
  switch (value.toLowerCase()) {
    case 'passthru':
      return 'passthrough';
    case 'h.264':
    case 'h264':
      return 'h264';
    case 'h.263':
    case 'h263':
      return 'h263';
    case 'disable':
    case 'disabled':
      return 'disabled';
    default:
      throw new TranscodePlanError('UNSUPPORTED_SETTING', `${where()}: video codec ${JSON.stringify(value)} is not supported (PassThru, H.264, H.263 or Disable)`);
  }
}

function parseAudioCodec(value: string, where: () => string): AudioCodec {
  switch (value.toLowerCase()) {
    case 'passthru':
      return 'passthrough';
    case 'aac':
      return 'aac';
    case 'disable':
    case 'disabled':
      return 'disabled';
    default:
      throw new TranscodePlanError('UNSUPPORTED_SETTING', `${where()}: audio codec ${JSON.stringify(value)} is not supported (PassThru, AAC or Disable)`);
  }
}

function parseVideo(node: XmlValue, where: () => string): VideoEncode {
  const codec = parseVideoCodec(requiredText(node, 'Codec', where), where);
  const video: VideoEncode = { codec };
  const transcoder = text(node, 'Transcoder', where);
  if (transcoder) video.transcoder = transcoder;
  const gpuId = integer(node, 'GPUID', where, -1);
  if (gpuId !== undefined) video.gpuId = gpuId;
  const implementation = text(node, 'Implementation', where);
  if (implementation) video.implementation = implementation;

  const sizeNode = child(node, 'FrameSize', where);
  if (sizeNode !== undefined && sizeNode !== '') video.frameSize = parseFrameSize(sizeNode, () => `${where()} FrameSize`);

  const profile = text(node, 'Profile', where);
  if (profile) {
    const p = profile.toLowerCase();
    if (p !== 'baseline' && p !== 'main' && p !== 'high') {
      throw new TranscodePlanError('UNSUPPORTED_SETTING', `${where()}: profile ${JSON.stringify(profile)} is not supported (baseline, main or high)`);
    }
    video.profile = p;
  }
  const bitrate = integer(node, 'Bitrate', where, 1);
  if (bitrate !== undefined) video.bitrateBps = bitrate;

  const kfNode = child(node, 'KeyFrameInterval', where);
  if (kfNode !== undefined && kfNode !== '') {
    const kfWhere = () => `${where()} KeyFrameInterval`;
    const keyFrameInterval: KeyFrameInterval = {
      followSource: boolean(text(kfNode, 'FollowSource', kfWhere), true, () => `${kfWhere()}: <FollowSource>`),
    };
    const interval = integer(kfNode, 'Interval', kfWhere, 1);
    if (interval !== undefined) keyFrameInterval.interval = interval;
    video.keyFrameInterval = keyFrameInterval;
  }

  // Kaltura writes <SkipFrameCount><Value>n</Value></SkipFrameCount>; Wowza's own templates
  // write the number directly. Read both.
  const skipNode = child(node, 'SkipFrameCount', where);
  if (skipNode !== undefined && skipNode !== '') {
    const skip = typeof skipNode === 'string' ? integer({ SkipFrameCount: skipNode }, 'SkipFrameCount', where, 0) : integer(skipNode, 'Value', where, 0);
    if (skip !== undefined && skip > 0) video.skipFrameCount = skip;
  }

  const parameters: Record<string, string> = {};
  for (const p of children(child(node, 'Parameters', where), 'Parameter')) {
    const pWhere = () => `${where()} Parameter`;
    parameters[requiredText(p, 'Name', pWhere)] = text(p, 'Value', pWhere) ?? '';
  }
  if (Object.keys(parameters).length > 0) video.parameters = parameters;
  return video;
}

function parseFrameSize(node: XmlValue, where: () => string): FrameSize {
  const mode = requiredText(node, 'FitMode', where).toLowerCase();
  if (mode !== 'match-source' && mode !== 'fit-width' && mode !== 'fit-height') {
    throw new TranscodePlanError('UNSUPPORTED_SETTING', `${where()}: FitMode ${JSON.stringify(mode)} is not supported (match-source, fit-width or fit-height)`);
  }
  const size: FrameSize = { fitMode: mode };
  const width = integer(node, 'Width', where, 1);
  const height = integer(node, 'Height', where, 1);
  if (width !== undefined) size.width = width;
  if (height !== undefined) size.height = height;
  if (mode === 'fit-width' && width === undefined) throw new TranscodePlanError('INVALID_ENCODE', `${where()}: fit-width needs <Width>`);
  if (mode === 'fit-height' && height === undefined) throw new TranscodePlanError('INVALID_ENCODE', `${where()}: fit-height needs <Height>`);
  return size;
}

function parseAudio(node: XmlValue, where: () => string): AudioEncode {
  const audio: AudioEncode = { codec: parseAudioCodec(requiredText(node, 'Codec', where), where) };
  const bitrate = integer(node, 'Bitrate', where, 1);
  if (bitrate !== undefined) audio.bitrateBps = bitrate;
  return audio;
}

function parseGroup(node: XmlValue, index: number, stream: string, encodeNames: Set<string>, substitute: (s: string) => string): StreamNameGroup {
  const where = () => `Stream ${stream}: StreamNameGroup #${index + 1}`;
  const fail = (message: string): never => {
    throw new TranscodePlanError('INVALID_GROUP', message);
  };
  if (!isObject(node)) fail(`${where()} is empty`);
  const read = (name: string): string | undefined => {
    try {
      return text(node, name, where);
    } catch (e) {
      return fail(e instanceof Error ? e.message : String(e));
    }
  };
  const name = read('Name') || fail(`${where()}: <Name> is missing`);
  const streamName = substitute(read('StreamName') || fail(`${where()} (${name}): <StreamName> is missing`));
  const members: string[] = [];
  for (const member of children(child(node, 'Members', where), 'Member')) {
    const encodeName = typeof member === 'string' ? member : (text(member, 'EncodeName', where) ?? '');
    if (!encodeNames.has(encodeName)) fail(`${where()} (${name}) lists encode ${JSON.stringify(encodeName)}, which the template does not define`);
    members.push(encodeName);
  }
  return { name, streamName, members };
}

function parseProperties(transcode: XmlValue | undefined, stream: string): Record<string, PropertyValue> {
  const where = () => `Stream ${stream}: Properties`;
  const out: Record<string, PropertyValue> = {};
  for (const p of children(child(transcode, 'Properties', where), 'Property')) {
    const name = requiredText(p, 'Name', where);
    const raw = text(p, 'Value', where) ?? '';
    const type = (text(p, 'Type', where) ?? 'String').toLowerCase();
    let value: PropertyValue = raw;
    if (type === 'double' || type === 'long' || type === 'integer' || type === 'float') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n)) throw new TranscodePlanError('INVALID_ENCODE', `${where()}: ${name} is not a number: ${JSON.stringify(raw)}`);
      value = n;
    } else if (type === 'boolean') {
      value = boolean(raw, false, () => `${where()}: ${name}`);
    }
    out[name] = value;
  }
  return out;
}
