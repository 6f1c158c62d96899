/**
 * The Wowza transcode template Kaltura serves for a live stream
 * (`wowza_liveConversionProfile.serve`), reproduced from kaltura/server
 * plugins/media/wowza/services/LiveConversionProfileService.php:
 *
 * - the stream-name suffix picks the ingest flavor (`streamSuffix`); a non-source ingest
 *   (multi-bitrate encoder) yields only itself; the source yields every flavor of the profile
 *   except the other ingests;
 * - an 'ingest' flavor is a pass-through (Video Codec PassThru, or Disable for audio-only;
 *   Audio PassThru when the source audio is AAC, else AAC with a bitrate);
 * - a transcoded flavor gets Transcoder/GPUID (from the registered media server node, else
 *   'default'/-1), FrameSize (fit-height when height is known, fit-width when only the width
 *   is, match-source otherwise), Codec (H.264/H.263/PassThru, only when width, height or frame
 *   rate is set), Profile (baseline for h264/h264b/h263, main otherwise), Bitrate in bps
 *   (default 240000), KeyFrameInterval, optional SkipFrameCount and Parameters;
 * - 'optional_flavor' flavors larger than the source (by height, or by video bitrate with a
 *   40% gap) are left out, using the encoder's onMetaData passed as `extraParams`;
 * - Decode, StreamNameGroups ('all' with every encode) and Properties (sourceStreamFrameRate
 *   from the source flavor's frame rate when >= 12.5).
 *
 * Kaltura computes an `mp4:` prefix for H.264 stream names but adds the StreamName element
 * before that, so the served StreamName never carries it; this does the same.
 */
import { apiError } from './errors';
import type { FixtureEntry, FixtureFlavorParams } from './fixtures';
import { hasTag, isIngestOrigin, streamSuffixOf } from './state';
import { printXmlDocument, XmlElement } from './xml-writer';

const MINIMAL_DEFAULT_FRAME_RATE = 12.5;
/** configurations/base.ini transcoding_profile_bitrate_percentage_gap_between_flavors. */
const BITRATE_GAP_PERCENT = 40;

/** The encoder's stream parameters (onMetaData), after merging `extraParams`. */
export interface StreamParameters {
  audiodatarate: number;
  videodatarate: number;
  width: number;
  height: number;
  framerate: number;
  videocodecidstring: string;
  audiocodecidstring: string;
  gpu: boolean;
}

export interface MediaServerSettings {
  transcoder: string;
  GPUID: number;
}

export interface TranscodeTemplateInput {
  entry: FixtureEntry;
  /** The conversion profile's flavors, in profile order. */
  flavors: FixtureFlavorParams[];
  /** The full `<entryId>_<suffix>` stream name (for errors). */
  streamName: string;
  suffix: string;
  stream: StreamParameters;
  mediaServer?: MediaServerSettings;
}

/** Parses `extraParams` (JSON of the source onMetaData) over the defaults, as array_merge does. */
export function streamParameters(extraParams: string | null, useExtra: boolean): StreamParameters {
  const p: StreamParameters = {
    audiodatarate: 0,
    videodatarate: 0,
    width: 0,
    height: 0,
    framerate: 0,
    videocodecidstring: '',
    audiocodecidstring: '',
    gpu: false,
  };
  if (!useExtra || extraParams === null || extraParams === '') return p;
  let parsed: unknown;
  try {
    parsed = JSON.parse(extraParams);
  } catch {
    return p;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return p;
  const o = parsed as Record<string, unknown>;
  for (const key of ['audiodatarate', 'videodatarate', 'width', 'height', 'framerate'] as const) {
    if (o[key] !== undefined) p[key] = Number(o[key]) || 0;
  }
  if (o.videocodecidstring !== undefined) p.videocodecidstring = String(o.videocodecidstring);
  if (o.audiocodecidstring !== undefined) p.audiocodecidstring = String(o.audiocodecidstring);
  // PHP compares `gpu == 'true'` loosely: the string 'true' and boolean true both match.
  p.gpu = o.gpu === true || o.gpu === 'true';
  return p;
}

export function buildTranscodeTemplate(input: TranscodeTemplateInput): string {
  const { entry, suffix, stream } = input;
  let flavors = input.flavors;
  // PHP's `getStreamSuffix() == $suffix`: numeric strings compare as numbers ('01' == '1').
  const ingest = flavors.find((f) => {
    const own = streamSuffixOf(f);
    return own !== undefined && (own === suffix || (/^\d+$/.test(own) && Number(own) === Number(suffix)));
  });
  if (!ingest) throw apiError('INGEST_NOT_FOUND_IN_CONVERSION_PROFILE', input.streamName);
  let disableIngested = true;
  if (!hasTag(ingest, 'source')) {
    flavors = [ingest];
    disableIngested = false;
  }

  const root = new XmlElement('Root');
  const transcode = root.add('Transcode');
  const encodes = transcode.add('Encodes');

  let defaultFrameRate: number | null = null;
  for (const f of flavors) {
    if (hasTag(f, 'source') && (f.frameRate ?? 0) >= MINIMAL_DEFAULT_FRAME_RATE) defaultFrameRate = f.frameRate ?? null;
  }
  const params: StreamParameters = { ...stream };
  if (defaultFrameRate !== null && params.framerate === 0) params.framerate = defaultFrameRate;

  const members: string[] = [];
  for (const f of flavors) {
    if (disableIngested && !hasTag(f, 'source') && isIngestOrigin(f)) continue;
    if (appendEncode(encodes, entry, f, params, input.mediaServer)) members.push(f.systemName ?? String(f.id));
  }

  const decodeVideo = transcode.add('Decode').add('Video');
  decodeVideo.add('Deinterlace', 'false');
  if (params.gpu) {
    decodeVideo.add('Implementation', 'NVCUVID');
    const scale = transcode.add('Scale');
    scale.add('Implementation', 'CUDA');
    scale.add('Parameters');
    scale.add('Properties');
  }

  const groups = transcode.add('StreamNameGroups');
  if (members.length > 0) {
    const group = groups.add('StreamNameGroup');
    group.add('Name', 'all');
    group.add('StreamName', '${SourceStreamName}_all');
    const list = group.add('Members');
    for (const name of members) list.add('Member').add('EncodeName', name);
  }

  const properties = transcode.add('Properties');
  if (defaultFrameRate !== null) {
    const property = properties.add('Property');
    property.add('Name', 'sourceStreamFrameRate');
    property.add('Value', defaultFrameRate);
    property.add('Type', 'Double');
  }
  return printXmlDocument(root);
}

function appendEncode(
  encodes: XmlElement,
  entry: FixtureEntry,
  f: FixtureFlavorParams,
  stream: StreamParameters,
  mediaServer: MediaServerSettings | undefined,
): boolean {
  const extra = engineExtraParams(f);
  let videoCodec = 'PassThru';
  const ingestAudioCodec = stream.audiocodecidstring === 'AAC' ? 'PassThru' : 'AAC';
  let audioCodec = ingestAudioCodec;
  let profile = 'main';
  const frameSize = resolution(f);
  const bitrate = f.videoBitrate ? f.videoBitrate * 1000 : 240000;

  if (!hasTag(f, 'ingest') && hasTag(f, 'optional_flavor') && !compatible(stream, bitrate, frameSize)) return false;

  const encode = encodes.add('Encode');
  encode.add('Enable', 'true');
  encode.add('Name', f.systemName ?? String(f.id));
  encode.add('StreamName', `${entry.id}_${f.id}`);
  const video = encode.add('Video');
  const audio = encode.add('Audio');

  if (hasTag(f, 'audio_only')) videoCodec = 'Disable';

  if (hasTag(f, 'ingest')) {
    video.add('Codec', videoCodec);
    audio.add('Codec', audioCodec);
    if (audioCodec !== 'PassThru') audio.add('Bitrate', f.audioBitrate ? f.audioBitrate * 1000 : 96000);
    return true;
  }

  if (f.width || f.height || f.frameRate) {
    switch (f.videoCodec) {
      case 'copy':
        videoCodec = 'PassThru';
        break;
      case 'flv':
      case 'vp6':
      case 'h263':
        profile = 'baseline';
        videoCodec = 'H.263';
        break;
      case 'h264':
      case 'h264b':
        profile = 'baseline';
        videoCodec = 'H.264';
        break;
      case 'h264h':
      case 'h264m':
        videoCodec = 'H.264';
        break;
      default:
        // Kaltura logs "video codec … is not expected" and keeps the previous value.
        break;
    }
    if (f.audioSampleRate || f.audioChannels) {
      if (f.audioCodec === 'aac' || f.audioCodec === 'aache') audioCodec = 'AAC';
    }
  }

  video.add('Transcoder', mediaServer ? mediaServer.transcoder : 'default');
  if (stream.gpu) video.add('Implementation', 'NVENC');
  video.add('GPUID', mediaServer ? mediaServer.GPUID : -1);
  const size = video.add('FrameSize');
  size.add('FitMode', frameSize.fitMode);
  if (frameSize.width !== undefined) size.add('Width', frameSize.width);
  if (frameSize.height !== undefined) size.add('Height', frameSize.height);
  video.add('Codec', videoCodec);
  video.add('Profile', profile);
  video.add('Bitrate', bitrate);
  const keyFrames = video.add('KeyFrameInterval');
  keyFrames.add('FollowSource', 'true');
  keyFrames.add('Interval', 60);

  let skip = f.maxFrameRate && stream.framerate ? Math.ceil(stream.framerate / f.maxFrameRate - 1.05) : 0;
  if (!skip) skip = Number(extra.skipFrameCount) || 0;
  if (skip) video.add('SkipFrameCount').add('Value', skip);

  if (extra.constantBitrate) {
    const parameter = video.add('Parameters').add('Parameter');
    parameter.add('Name', 'mainconcept.bit_rate_mode');
    parameter.add('Value', 0);
    parameter.add('Type', 'Long');
  }

  audio.add('Codec', audioCodec);
  audio.add('Bitrate', f.audioBitrate ? f.audioBitrate * 1000 : 96000);
  return true;
}

interface FrameSize {
  fitMode: 'match-source' | 'fit-width' | 'fit-height';
  width?: number;
  height?: number;
}

function resolution(f: FixtureFlavorParams): FrameSize {
  if (f.width && f.height) return { fitMode: 'fit-height', width: f.width, height: f.height };
  if (f.width) return { fitMode: 'fit-width', width: f.width };
  if (f.height) return { fitMode: 'fit-height', height: f.height };
  return { fitMode: 'match-source' };
}

/** isFlavorCompatibile: not taller than the source, and not above its video bitrate (+40%). */
function compatible(stream: StreamParameters, flavorBitrate: number, size: FrameSize): boolean {
  let flavorHeight = 0;
  if (size.fitMode === 'fit-height') flavorHeight = size.height ?? 0;
  else if (size.fitMode === 'fit-width') flavorHeight = stream.width !== 0 ? ((size.width ?? 0) * stream.height) / stream.width : 0;
  if (stream.height !== 0 && stream.height < flavorHeight) return false;
  const factor = 1 + BITRATE_GAP_PERCENT / 100;
  if (stream.videodatarate !== 0 && stream.videodatarate * 1000 < flavorBitrate * factor) return false;
  return true;
}

function engineExtraParams(f: FixtureFlavorParams): { skipFrameCount?: unknown; constantBitrate?: unknown } {
  if (!f.conversionEnginesExtraParams) return {};
  try {
    const parsed: unknown = JSON.parse(f.conversionEnginesExtraParams);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
