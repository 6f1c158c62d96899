/**
 * Transcode plan → one ffmpeg command line.
 *
 * One process per source stream: the source is read and decoded once, `-filter_complex`
 * splits the decoded video into one scaler per transcoded rendition, and every rendition is
 * written as its own FLV output (the core reads each back in as a live stream named by the
 * encode's StreamName). Audio is decoded once too (ffmpeg decodes each input stream once and
 * feeds every encoder that maps it).
 *
 * Choices that matter downstream, verified against ffmpeg 5.1 (Debian 12) and the 2018
 * snapshot shipped by @ffmpeg-installer/linux-x64:
 * - Keyframes follow the source's (`-force_key_frames source`, or a time expression on the
 *   source GOP where that keyword is missing), scene-cut keyframes are off (`-sc_threshold 0`)
 *   and x264's own GOP limit is pushed out of the way, so every rendition has keyframes exactly
 *   where the source has them and HLS segments line up across the ladder.
 * - `-copyts` keeps the source's timestamps: a rendition's keyframe carries the same timestamp
 *   as the source keyframe it follows, also after an ffmpeg restart mid-stream. (Only when the
 *   source starts near 0 can an output be shifted by its B-frame/AAC-priming delay, because FLV
 *   cannot carry negative timestamps; live sources are rebased onto wall-clock time, far from 0.)
 * - No `-fflags nobuffer` on the input: in ffmpeg 5.1 it discards the packets read while the
 *   streams are probed (measured: the first 2 s and both first keyframes of a 4 s FLV were lost),
 *   so the first GOP never reaches the renditions. Without it those packets are processed right
 *   after probing, so steady-state latency is the same and the first segment comes sooner.
 * - `-flush_packets 1` on every output: a 64 kbit/s audio-only rendition would otherwise sit in
 *   the 32 KiB output buffer for 4 s before the core sees it.
 */
import { FfmpegArgsError } from './errors';
import type { FrameSize, H264Profile, TranscodeEncode, TranscodePlan } from './plan';
import { enabledEncodes } from './plan';

/** What is known about the source before ffmpeg starts (onMetaData; may be partly zero). */
export interface SourceMedia {
  /** Pixels; 0 when unknown (sizes are then computed by ffmpeg from the real frames). */
  width: number;
  height: number;
  /** Frames per second; 0 when unknown (30 is assumed where a frame count is needed). */
  frameRate: number;
  /** Source video bitrate in bit/s; the fallback bitrate of a transcode that names none. */
  videoBitrate?: number;
  /** Source audio bitrate in bit/s; the fallback of an AAC encode that names none. */
  audioBitrate?: number;
  /** Default true. False: the source has no video track, so every rendition is audio-only. */
  hasVideo?: boolean;
  /** Default true. False: the source has no audio track, so no audio is mapped. */
  hasAudio?: boolean;
  /**
   * Seconds between the source's keyframes. Used only by ffmpeg builds without
   * `-force_key_frames source`; default: the encode's KeyFrameInterval frames / frame rate.
   */
  gopSeconds?: number;
}

export interface FfmpegIo {
  /** Read as FLV, e.g. 'unix:/run/klive/in-<stream>.sock' or a file path. */
  input: string;
  /**
   * Where an encode is written as FLV, e.g. 'unix:/run/klive/out-<name>.sock'. Return null
   * for an encode the core serves itself (a pure passthrough), so ffmpeg does not copy it.
   */
  outputFor(encode: TranscodeEncode): string | null;
  source: SourceMedia;
}

export interface FfmpegArgsOptions {
  /**
   * Whether this ffmpeg understands `-force_key_frames source` (probeFfmpeg tells).
   * Default true: every ffmpeg from 5.0 on does.
   */
  forceKeyFramesSource?: boolean;
  /** x264 preset when the encode's Parameters name none; default 'veryfast'. */
  preset?: string;
  /** Default 'warning': warnings and errors reach stderr (the supervisor keeps a tail). */
  logLevel?: string;
}

/** Kaltura's defaults when the template names no bitrate (LiveConversionProfileService). */
const DEFAULT_VIDEO_BITRATE = 240_000;
const DEFAULT_AUDIO_BITRATE = 96_000;
/** Frame rate assumed where frames must be counted and the source did not say. */
const ASSUMED_FRAME_RATE = 30;
/**
 * While following the source, x264 only inserts its own keyframe when the source went this
 * long without one: a safety net for broken sources that would otherwise give unbounded GOPs.
 */
const MAX_FOLLOW_GOP_SECONDS = 20;

/** Encoder parameters understood here; others are reported by unsupportedParameters(). */
const PARAM_BITRATE_MODE = 'mainconcept.bit_rate_mode';
const PARAM_PRESET = 'x264.preset';
const PARAM_TUNE = 'x264.tune';
const KNOWN_PARAMETERS = new Set([PARAM_BITRATE_MODE, PARAM_PRESET, PARAM_TUNE]);

/** The parameters of enabled transcodes that this builder ignores, as `encode: name` strings. */
export function unsupportedParameters(plan: TranscodePlan): string[] {
  const out: string[] = [];
  for (const e of enabledEncodes(plan)) {
    for (const name of Object.keys(e.video.parameters ?? {})) if (!KNOWN_PARAMETERS.has(name)) out.push(`${e.name}: ${name}`);
  }
  return out;
}

export interface RenditionSize {
  width: number;
  height: number;
}

/**
 * The frame size ffmpeg will produce for `frameSize` from a `source`-sized picture (what the
 * scale expressions below evaluate to), or null when the source size is unknown.
 *
 * Wowza's FitModes: match-source keeps the size; fit-height sets the height and derives the
 * width from the source aspect ratio (Kaltura sends Width too, which Wowza ignored in this
 * mode); fit-width the other way round. Kaltura avoided upscaling on its side (it leaves out
 * optional flavors taller than the source) but its Wowza transcoder scaled as told; here a
 * rendition is never larger than the source, since upscaling spends bits on no detail.
 * Dimensions are even, as 4:2:0 H.264 needs.
 */
export function renditionSize(frameSize: FrameSize | undefined, source: { width: number; height: number }): RenditionSize | null {
  const { width: sw, height: sh } = source;
  if (!(sw > 0 && sh > 0)) return null;
  const down = (x: number) => Math.max(2, 2 * Math.floor(x / 2));
  // av_rescale rounds half away from zero, as ffmpeg's scale does for -2.
  const derived = (x: number) => Math.max(2, 2 * Math.round(x / 2));
  const mode = frameSize?.fitMode ?? 'match-source';
  if (mode === 'fit-height' && frameSize?.height !== undefined) {
    const h = down(Math.min(frameSize.height, sh));
    return { width: derived((sw * h) / sh), height: h };
  }
  if (mode === 'fit-width' && frameSize?.width !== undefined) {
    const w = down(Math.min(frameSize.width, sw));
    return { width: w, height: derived((sh * w) / sw) };
  }
  return { width: down(sw), height: down(sh) };
}

/**
 * The scale filter for a FitMode, as expressions on the decoded frame (iw/ih) rather than on
 * the onMetaData size: encoders' metadata can be missing or wrong, the frames cannot.
 * Quotes protect the commas from the filtergraph parser.
 */
function scaleFilter(frameSize: FrameSize | undefined): string {
  const mode = frameSize?.fitMode ?? 'match-source';
  if (mode === 'fit-height' && frameSize?.height !== undefined) {
    return `scale=w=-2:h='2*trunc(min(${frameSize.height},ih)/2)'`;
  }
  if (mode === 'fit-width' && frameSize?.width !== undefined) {
    return `scale=w='2*trunc(min(${frameSize.width},iw)/2)':h=-2`;
  }
  return `scale=w='2*trunc(iw/2)':h='2*trunc(ih/2)'`;
}

function videoFilterChain(encode: TranscodeEncode): string {
  const filters: string[] = [];
  const skip = encode.video.skipFrameCount ?? 0;
  if (skip > 0) {
    // Keep one frame in skip+1, and always the source's keyframes so the forced keyframes
    // (and the segment boundaries) survive the frame-rate reduction.
    filters.push(`select='key+not(mod(n,${skip + 1}))'`);
  }
  filters.push(scaleFilter(encode.video.frameSize));
  // baseline/main/high are 8-bit 4:2:0 only; a 4:2:2 or 10-bit source must be converted.
  filters.push('format=yuv420p');
  return filters.join(',');
}

function isVideoTranscode(encode: TranscodeEncode): boolean {
  return encode.video.codec === 'h264' || encode.video.codec === 'h263';
}

function x264Args(encode: TranscodeEncode, io: FfmpegIo, options: FfmpegArgsOptions): string[] {
  const v = encode.video;
  const params = v.parameters ?? {};
  // H.263 (Sorenson Spark in FLV) cannot be carried in MPEG-TS/HLS and no current player
  // decodes it; Kaltura's H.263 flavors are served as H.264 baseline, their closest kin.
  const profile: H264Profile = v.codec === 'h263' ? 'baseline' : (v.profile ?? 'main');
  const bitrate = v.bitrateBps ?? io.source.videoBitrate ?? DEFAULT_VIDEO_BITRATE;
  const args = ['-c:v', 'libx264', '-preset', params[PARAM_PRESET] || options.preset || 'veryfast'];
  if (params[PARAM_TUNE]) args.push('-tune', params[PARAM_TUNE]);
  args.push('-profile:v', profile);
  if (params[PARAM_BITRATE_MODE] === '0') {
    // MainConcept's bit_rate_mode 0 is constant bitrate: x264's HRD-conformant CBR, filler
    // included, with a one-second buffer.
    args.push('-b:v', String(bitrate), '-minrate', String(bitrate), '-maxrate', String(bitrate), '-bufsize', String(bitrate));
    args.push('-x264-params', 'nal-hrd=cbr');
  } else {
    // Average bitrate capped by a two-second VBV: no peak above the rendition's BANDWIDTH.
    args.push('-b:v', String(bitrate), '-maxrate', String(bitrate), '-bufsize', String(2 * bitrate));
  }

  const frameRate = io.source.frameRate > 0 ? io.source.frameRate : ASSUMED_FRAME_RATE;
  const kf = v.keyFrameInterval ?? { followSource: true };
  if (kf.followSource) {
    if (options.forceKeyFramesSource ?? true) {
      args.push('-force_key_frames:v', 'source');
    } else {
      const gop = io.source.gopSeconds ?? (kf.interval ?? 2 * frameRate) / frameRate;
      if (!(gop > 0)) throw new FfmpegArgsError('INVALID_SOURCE', `encode ${encode.name}: cannot derive a keyframe interval from the source`);
      // Relative to the last forced keyframe, so timestamps far from 0 (-copyts) do not make
      // every early frame a keyframe as `gte(t,n_forced*G)` would.
      args.push('-force_key_frames:v', `expr:if(isnan(prev_forced_t),1,gte(t,prev_forced_t+${round3(gop - 0.5 / frameRate)}))`);
    }
    args.push('-g', String(Math.ceil(frameRate * MAX_FOLLOW_GOP_SECONDS)));
  } else {
    const interval = kf.interval ?? Math.round(2 * frameRate);
    args.push('-g', String(interval), '-keyint_min', String(interval));
  }
  // Forced keyframes become IDR frames (a segment must start decodable); no scene-cut
  // keyframes, which would differ between renditions.
  args.push('-forced-idr', '1', '-sc_threshold', '0');
  return args;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * The ffmpeg argv (without the binary) that produces every enabled encode of `plan` for which
 * `io.outputFor` returns a destination. Throws FfmpegArgsError NO_OUTPUTS when none does.
 */
export function buildFfmpegArgs(plan: TranscodePlan, io: FfmpegIo, options: FfmpegArgsOptions = {}): string[] {
  const hasVideo = io.source.hasVideo ?? true;
  const hasAudio = io.source.hasAudio ?? true;
  const outputs: Array<{ encode: TranscodeEncode; url: string }> = [];
  for (const encode of enabledEncodes(plan)) {
    const url = io.outputFor(encode);
    if (url === null) continue;
    const video = hasVideo && encode.video.codec !== 'disabled';
    const audio = hasAudio && encode.audio.codec !== 'disabled';
    // An output with no stream makes ffmpeg refuse to start: leave it out.
    if (video || audio) outputs.push({ encode, url });
  }
  if (outputs.length === 0) {
    throw new FfmpegArgsError('NO_OUTPUTS', `Stream ${plan.sourceStreamName}: no encode of the plan needs ffmpeg`);
  }

  const args = ['-hide_banner', '-nostdin', '-loglevel', options.logLevel ?? 'warning', '-nostats', '-progress', 'pipe:1'];
  // low_delay: the decoder hands out frames without waiting to fill its reorder buffer.
  args.push('-copyts', '-flags', 'low_delay', '-f', 'flv', '-i', io.input);

  const transcodes = hasVideo ? outputs.filter((o) => isVideoTranscode(o.encode)) : [];
  const label = new Map<TranscodeEncode, string>();
  if (transcodes.length > 0) {
    const chains = transcodes.map((o, i) => {
      label.set(o.encode, `v${i}`);
      return videoFilterChain(o.encode);
    });
    let graph: string;
    if (chains.length === 1) {
      graph = `[0:v:0]${chains[0]}[v0]`;
    } else {
      const taps = chains.map((_, i) => `[s${i}]`).join('');
      graph = [`[0:v:0]split=${chains.length}${taps}`, ...chains.map((c, i) => `[s${i}]${c}[v${i}]`)].join(';');
    }
    args.push('-filter_complex', graph);
  }

  for (const { encode, url } of outputs) {
    const video = hasVideo ? encode.video.codec : 'disabled';
    const audio = hasAudio ? encode.audio.codec : 'disabled';
    if (video === 'passthrough') {
      args.push('-map', '0:v:0?', '-c:v', 'copy');
    } else if (video === 'disabled') {
      args.push('-vn');
    } else {
      args.push('-map', `[${label.get(encode)}]`, ...x264Args(encode, io, options));
    }
    if (audio === 'passthrough') {
      args.push('-map', '0:a:0?', '-c:a', 'copy');
    } else if (audio === 'aac') {
      const bitrate = encode.audio.bitrateBps ?? io.source.audioBitrate ?? DEFAULT_AUDIO_BITRATE;
      args.push('-map', '0:a:0?', '-c:a', 'aac', '-b:a', String(bitrate));
    } else {
      args.push('-an');
    }
    // The muxer waits for a packet of every stream before writing its header; x264's
    // lookahead delays video while audio packets queue up, past the default 128 on startup.
    args.push('-max_muxing_queue_size', '1024');
    args.push('-f', 'flv', '-flvflags', 'no_duration_filesize', '-flush_packets', '1', url);
  }
  return args;
}
