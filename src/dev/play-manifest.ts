/**
 * playManifest for live HLS as kaltura/server answers it
 * (alpha/apps/kaltura/modules/extwidget/actions/playManifestAction.class.php serveLiveEntry,
 * alpha/lib/model/DeliveryProfileLive.php, DeliveryProfileLiveAppleHttp.php,
 * plugins/media/wowza/lib/model/WowzaMediaServerNode.php, kManifestRenderers.php):
 *
 * `/p/<pid>/sp/<pid>00/playManifest/entryId/<id>/format/applehttp/protocol/http/a.m3u8`
 * - the entry must be live (a PLAYABLE primary or backup node), else ENTRY_NOT_LIVE (36), 404;
 * - its PLAYABLE entry-server-nodes whose server node is active, primary first (weight 10 vs 0);
 * - each node's URL: `<protocol>://<domain>:<port>/[<appPrefix>/]<applicationName>/smil:<entry>_all.smil/playlist.m3u8`
 *   (`?DVR` when DVR is on), domain = the server node's hostName (or its
 *   mediaServerPlaybackDomainConfig `http-hls`), port = its mediaServerPortConfig `http-hls`,
 *   default 1935, applicationName default kLive;
 * - redirect mode (`responseFormat/redirect`, or no node reported streams): 302 to the primary URL;
 * - proxied master: one variant per stream of the primary (`<flavorId>/chunklist.m3u8` next to
 *   its URL) and, with forceProxy or when the primary lists none, the backup's streams with the
 *   primary's bit rates, sorted by bit rate (then order); BANDWIDTH = floor(bitrate·188/184).
 */
import type { HttpAnswer } from './api-handler';
import type { FixtureEntry, FixtureEntryServerNode, FixtureLiveStreamParams } from './fixtures';
import { entryServerNodes, EntryServerNodeStatus, LIVE_PRIMARY, liveStatus } from './live-nodes';
import { isTree, type ParamNode } from './params';
import type { EmulatorState, ServerNodeRecord } from './state';

/** WowzaMediaServerNode::DEFAULT_MANIFEST_PORT. */
const DEFAULT_MANIFEST_PORT = 1935;
/** MediaServerNode::DEFAULT_APPLICATION. */
const DEFAULT_APPLICATION = 'kLive';
/** PlaybackProtocol::HLS: the stream format getBaseUrl asks the node's port and domain for. */
const HLS_FORMAT = 'hls';
/** kM3U8ManifestRenderer::AUDIO_CODECS_BITRATE_THRESHOLD. */
const AUDIO_CODECS_BITRATE_THRESHOLD = 66960;

/** KExternalErrors used here: code and description. */
const ERRORS = {
  ENTRY_NOT_FOUND: [1, 'requested entry not found'],
  MISSING_PARAMETER: [20, 'Request parameter [%s] is missing'],
  INVALID_PARTNER: [32, "The given partner isn't vaild for the request"],
  ENTRY_NOT_LIVE: [36, 'The given entry is not broadcasting'],
  BAD_QUERY: [10, 'Bad query'],
} as const;

export interface PlayManifestOptions {
  /** DeliveryProfileLiveAppleHttp forceProxy: list the backup's renditions in the master too. */
  forceProxy: boolean;
}

/** `/p/<pid>[/sp/<pid>00]/playManifest/…`: true when the path is a playManifest request. */
export function isPlayManifestPath(url: string): boolean {
  return /^\/p\/-?\d+(\/sp\/-?\d+)?\/playManifest(\/|$)/i.test(url.split('?')[0]);
}

/** The request's parameters: key/value path segments after playManifest, then the query (which wins). */
export function playManifestParams(url: string): Map<string, string> {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const params = new Map<string, string>();
  const match = /^\/p\/(-?\d+)(?:\/sp\/-?\d+)?\/playManifest\/?(.*)$/i.exec(path);
  if (!match) return params;
  params.set('partnerId', match[1]);
  const parts = match[2].split('/').filter((p) => p !== '').map(decodeURIComponent);
  // The last odd segment is the file name (a.m3u8), which Kaltura ignores.
  for (let i = 0; i + 1 < parts.length; i += 2) params.set(parts[i], parts[i + 1]);
  if (q >= 0) for (const [k, v] of new URLSearchParams(url.slice(q + 1))) params.set(k, v);
  return params;
}

export function playManifest(state: EmulatorState, url: string, now: number, options: PlayManifestOptions): HttpAnswer {
  const params = playManifestParams(url);
  const entryId = params.get('entryId');
  if (!entryId) return dieError('MISSING_PARAMETER', 'entryId');
  const entry = state.entries.get(entryId);
  if (!entry) return dieError('ENTRY_NOT_FOUND');
  if (String(entry.partnerId) !== params.get('partnerId')) return dieError('INVALID_PARTNER');
  const format = params.get('format') ?? '';
  if (format !== 'applehttp') return dieError('BAD_QUERY', `the emulator serves live format applehttp only, not "${format}"`);
  if (liveStatus(state, entry, now) !== EntryServerNodeStatus.PLAYABLE) return dieError('ENTRY_NOT_LIVE', `Entry [${entryId}] is not broadcasting`);

  const nodes = sortedPlayableNodes(state, entry, now);
  if (nodes.length === 0) return dieError('ENTRY_NOT_LIVE', `Entry [${entryId}] is not broadcasting on stream type []`);
  const protocol = params.get('protocol') === 'https' ? 'https' : 'http';
  const [primary, backup] = nodes.map(({ node, server }) => ({ url: httpUrl(entry, server, protocol), streams: node.streams ?? [] }));

  const redirect = params.get('responseFormat') === 'redirect' || (primary.streams.length === 0 && (backup?.streams.length ?? 0) === 0);
  if (redirect) {
    return { status: 302, headers: { Location: primary.url.replace(/ /g, '%20'), 'Content-Type': 'text/plain' }, body: '' };
  }
  const flavors = m3u8Flavors(primary.url, primary.streams, new Map());
  if (backup && (options.forceProxy || flavors.length === 0)) {
    // "Until a full solution will be made on the liveServer side we need to manually sync bitrates between primary and backup streams."
    const primaryBitrates = new Map(primary.streams.map((s) => [s.flavorId, s.bitrate]));
    flavors.push(...m3u8Flavors(backup.url, backup.streams, primaryBitrates));
  }
  const ordered = flavors.map((f, index) => ({ ...f, index })).sort((a, b) => (a.bitrate === b.bitrate ? a.index - b.index : a.bitrate - b.bitrate));
  const lines = ['#EXTM3U', ...ordered.map(streamInf)];
  return { status: 200, headers: { 'Content-Type': 'application/x-mpegurl', 'Access-Control-Allow-Origin': '*' }, body: lines.join('\n') };
}

interface ManifestFlavor {
  url: string;
  /** bps / 1024, as buildM3u8Flavors keeps it. */
  bitrate: number;
  width: number;
  height: number;
  codecs?: string;
}

/** DeliveryProfileLiveAppleHttp::buildM3u8Flavors (H.264/H.265 flavors carry no CODECS). */
function m3u8Flavors(manifestUrl: string, streams: FixtureLiveStreamParams[], bitrates: Map<string, number>): ManifestFlavor[] {
  return streams.map((s) => {
    const codec = s.codec ?? '';
    return {
      url: new URL(`${s.flavorId}/chunklist.m3u8`, manifestUrl).toString(),
      bitrate: (bitrates.get(s.flavorId) ?? s.bitrate) / 1024,
      width: s.width ?? 0,
      height: s.height ?? 0,
      ...(codec !== '' && codec !== 'h264' && codec !== 'h265' ? { codecs: codec } : {}),
    };
  });
}

/** kM3U8ManifestRenderer::addExtXStreamInf (no frame rate for live flavors). */
function streamInf(f: ManifestFlavor): string {
  const bitrate = Math.floor((f.bitrate * 1024 * 188) / 184);
  const resolution = f.width && f.height ? `,RESOLUTION=${f.width}x${f.height}` : '';
  const codecs = f.codecs ? `,CODECS="${f.codecs}"` : bitrate && bitrate <= AUDIO_CODECS_BITRATE_THRESHOLD ? ',CODECS="mp4a.40.2"' : '';
  return `#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=${bitrate}${resolution}${codecs}\n${f.url}`;
}

/** DeliveryProfileLive::getSortedLiveEntryServerNodes: PLAYABLE nodes on an active server node, primary first. */
function sortedPlayableNodes(state: EmulatorState, entry: FixtureEntry, now: number): { node: FixtureEntryServerNode; server: ServerNodeRecord }[] {
  const found: { node: FixtureEntryServerNode; server: ServerNodeRecord; weight: number }[] = [];
  for (const node of entryServerNodes(state, entry, now)) {
    if (node.status !== EntryServerNodeStatus.PLAYABLE) continue;
    const server = state.activeServerNode(node.hostName);
    if (!server || server.status !== 1) continue;
    found.push({ node, server, weight: node.index === LIVE_PRIMARY ? 10 : 0 });
  }
  return found.sort((a, b) => b.weight - a.weight);
}

/** DeliveryProfileLiveAppleHttp::getHttpUrl over WowzaMediaServerNode::getPlaybackHost / getAppNameAndPrefix. */
function httpUrl(entry: FixtureEntry, server: ServerNodeRecord, protocol: string): string {
  const field = `${protocol}-${HLS_FORMAT}`;
  const reported = server.reported;
  const domain = keyValue(reported.mediaServerPlaybackDomainConfig, field) ?? text(reported.playbackHostName) ?? server.hostName;
  const configuredPort = keyValue(reported.mediaServerPortConfig, field);
  const port = configuredPort !== undefined && /^\d+$/.test(configuredPort) ? Number(configuredPort) : DEFAULT_MANIFEST_PORT;
  const appPrefix = text(reported.appPrefix);
  const application = text(reported.applicationName) ?? DEFAULT_APPLICATION;
  const appNameAndPrefix = `${appPrefix ? `${appPrefix.replace(/\/+$/, '')}/` : ''}${application}`;
  const base = `${protocol}://${domain}:${port}/${appNameAndPrefix}`;
  const query = entry.dvrStatus === 1 ? '?DVR' : '';
  return `${base.replace(/\/+$/, '')}/smil:${entry.id}_all.smil/playlist.m3u8${query}`;
}

/** A KalturaKeyValueArray as the API received it (a list, or an object keyed 0, 1 …), looked up by key. */
function keyValue(node: ParamNode | undefined, key: string): string | undefined {
  if (!isTree(node)) return undefined;
  for (const item of Object.values(node)) {
    if (isTree(item) && item.key === key) return text(item.value);
  }
  return undefined;
}

function text(node: ParamNode | undefined): string | undefined {
  return typeof node === 'string' && node !== '' ? node : typeof node === 'number' ? String(node) : undefined;
}

/** KExternalErrors::dieError with the 404 playManifest sets first: empty body, the error in headers. */
function dieError(name: keyof typeof ERRORS, detail?: string): HttpAnswer {
  const [code, template] = ERRORS[name];
  let description: string = template;
  if (name === 'MISSING_PARAMETER' && detail) description = template.replace('%s', detail);
  else if (detail) description += `, ${detail}`;
  return {
    status: 404,
    headers: {
      'X-Kaltura-App': `exiting on error ${code} - ${description}`.replace(/[^\x20-\x7e]/g, '?'),
      'X-Kaltura': `error-${code}`,
      'Content-Type': 'text/plain',
    },
    body: '',
  };
}
