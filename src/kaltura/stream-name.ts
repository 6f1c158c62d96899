/**
 * Kaltura live stream names, the one parser for them: `<entryId>_<n>`, where n is the ingest's
 * stream suffix (publishers: 1..3 for multi-bitrate encoders, Ingest_4..7, the audio-language
 * ingests 1000..1019; Kaltura allows any positive integer) or a rendition's flavorParamsId
 * (transcoder outputs and recordings). DESIGN.md "Publishing contract".
 *
 * Which suffixes an entry may publish is the conversion profile's business:
 * wowza_liveConversionProfile.serve answers INGEST_NOT_FOUND_IN_CONVERSION_PROFILE for one it
 * lacks. This only checks the form.
 */

/** Kaltura entry ids as the stream-name rule accepts them (`0_rkij47dr`). */
export const ENTRY_ID_RE = /^[01]_[0-9a-z]{8}$/;
/** `<entryId>_<anything>`: the entry part, for telling a bad suffix from a foreign name. */
const STREAM_NAME_RE = /^([01]_[0-9a-z]{8})_(.+)$/;
/** A positive integer without leading zeros, small enough to stay an exact int. */
const SUFFIX_RE = /^[1-9][0-9]{0,14}$/;

export interface StreamName {
  entryId: string;
  suffix: number;
}

/** `<entryId>` and the suffix text of `<entryId>_<suffix>`, the suffix not yet checked. */
export function splitStreamName(name: string): { entryId: string; suffix: string } | undefined {
  const m = STREAM_NAME_RE.exec(name);
  return m ? { entryId: m[1], suffix: m[2] } : undefined;
}

/** The suffix as a number when it is a positive integer without leading zeros. */
export function streamSuffix(text: string): number | undefined {
  return SUFFIX_RE.test(text) ? Number(text) : undefined;
}

/** `<entryId>_<n>` with n ≥ 1 and no leading zeros, else undefined. */
export function parseStreamName(name: string): StreamName | undefined {
  const parts = splitStreamName(name);
  if (!parts) return undefined;
  const suffix = streamSuffix(parts.suffix);
  return suffix === undefined ? undefined : { entryId: parts.entryId, suffix };
}
