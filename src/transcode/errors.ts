/** Errors of the transcode layer, each with a stable `code`. */

/**
 * Why a conversion-profile template could not become a plan. The message is what the
 * publisher is refused with and what diagnostics show, so it names the stream and the part of
 * the template at fault.
 */
export type TranscodePlanErrorCode =
  /** Not well-formed XML (Kaltura answers an empty body when the serve action fails). */
  | 'INVALID_XML'
  /** Well-formed, but no `Root/Transcode`. */
  | 'NO_TRANSCODE'
  /** No enabled `Encode`: the stream has no ingest in its conversion profile. */
  | 'NO_ENCODES'
  /** An `Encode` lacks a field or carries a value that cannot be read. */
  | 'INVALID_ENCODE'
  /** A codec, fit mode or H.264 profile this server cannot produce. */
  | 'UNSUPPORTED_SETTING'
  /** Two encodes share a Name or a StreamName. */
  | 'DUPLICATE_ENCODE'
  /** A stream-name group is malformed or names an encode that does not exist. */
  | 'INVALID_GROUP';

export class TranscodePlanError extends Error {
  readonly code: TranscodePlanErrorCode;

  constructor(code: TranscodePlanErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TranscodePlanError';
    this.code = code;
  }
}

export type FfmpegArgsErrorCode =
  /** Every encode is served elsewhere (`outputFor` returned null for all): nothing to run. */
  | 'NO_OUTPUTS'
  /** The source description cannot drive the encodes (e.g. a frame rate of 0 with a GOP expression). */
  | 'INVALID_SOURCE';

export class FfmpegArgsError extends Error {
  readonly code: FfmpegArgsErrorCode;

  constructor(code: FfmpegArgsErrorCode, message: string) {
    super(message);
    this.name = 'FfmpegArgsError';
    this.code = code;
  }
}

export type FfmpegErrorCode =
  /** No usable ffmpeg binary was found along the resolution order. */
  | 'FFMPEG_NOT_FOUND'
  /** The configured binary exists but does not run (or does not print a version). */
  | 'FFMPEG_UNUSABLE'
  /** start() while already running, or after the supervisor was disposed. */
  | 'INVALID_STATE';

export class FfmpegError extends Error {
  readonly code: FfmpegErrorCode;

  constructor(code: FfmpegErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FfmpegError';
    this.code = code;
  }
}
