/** Public API of the transcode layer: profile XML → plan → ffmpeg argv → supervised process. */
export { parseTranscodePlan, planNeedsFfmpeg, enabledEncodes, isPassthroughEncode } from './plan';
export type {
  AudioCodec,
  AudioEncode,
  DecodeSettings,
  FitMode,
  FrameSize,
  H264Profile,
  KeyFrameInterval,
  PlanSource,
  PropertyValue,
  StreamNameGroup,
  TranscodeEncode,
  TranscodePlan,
  VideoCodec,
  VideoEncode,
} from './plan';
export { buildFfmpegArgs, renditionSize, unsupportedParameters } from './ffmpeg-args';
export type { FfmpegArgsOptions, FfmpegIo, RenditionSize, SourceMedia } from './ffmpeg-args';
export { resolveFfmpeg, resolveFfprobe, probeFfmpeg } from './ffmpeg-path';
export type { BinarySource, FfmpegCapabilities, ResolveOptions, ResolvedBinary } from './ffmpeg-path';
export { FfmpegSupervisor, findSetpriv } from './supervisor';
export type { ExitedEvent, FfmpegSupervisorEvents, FfmpegSupervisorOptions, RestartPolicy, StartedEvent, SupervisorState, SupervisorStats } from './supervisor';
export { ProgressParser } from './progress';
export type { FfmpegProgress } from './progress';
export { FfmpegArgsError, FfmpegError, TranscodePlanError } from './errors';
export type { FfmpegArgsErrorCode, FfmpegErrorCode, TranscodePlanErrorCode } from './errors';
