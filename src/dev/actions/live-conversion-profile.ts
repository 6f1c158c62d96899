/**
 * wowza_liveConversionProfile.serve (kaltura/server plugins/media/wowza/services/
 * LiveConversionProfileService.php): callable without a KS (the Wowza transcoder fetched it
 * as a template URL); with no KS, or a KS of the media-server partner, the entry is looked
 * up across partners and its partner becomes the context. Answers text/xml, not wrapped in
 * <xml><result>.
 */
import { buildTranscodeTemplate, streamParameters } from '../conversion-profile-xml';
import { apiError } from '../errors';
import { MEDIA_SERVER_PARTNER_ID } from '../state';
import { visibleTo, type ActionSpec } from './context';

const serve: ActionSpec = {
  service: 'wowza_liveConversionProfile',
  action: 'serve',
  ks: 'none',
  returnsFile: true,
  params: [
    { name: 'streamName', type: 'string' },
    { name: 'hostname', type: 'string', optional: true },
    { name: 'extraParams', type: 'string', optional: true },
  ],
  handler(ctx, args) {
    const streamName = args.str('streamName');
    const m = /^(\d_.{8})_(\d+)$/.exec(streamName);
    if (!m) throw apiError('INVALID_STREAM_NAME', streamName);
    const [, entryId, suffix] = m;
    const entry = ctx.state.entries.get(entryId);
    const global = ctx.session === null || ctx.partnerId === MEDIA_SERVER_PARTNER_ID;
    if (!entry || (!global && !visibleTo(ctx, entry.partnerId))) throw apiError('ENTRY_ID_NOT_FOUND', entryId);
    const smartTranscodingDisabled = ctx.state.hasPermission(entry.partnerId, 'FEATURE_KALTURA_LIVE_DISABLE_SMART_TRANSCODING');
    const hostname = args.strOrNull('hostname');
    const node = hostname ? ctx.state.activeServerNode(hostname) : undefined;
    const body = buildTranscodeTemplate({
      entry,
      flavors: ctx.state.flavorsOfProfile(entry.conversionProfileId),
      streamName,
      suffix,
      stream: streamParameters(args.strOrNull('extraParams'), !smartTranscodingDisabled),
      mediaServer: node ? { transcoder: node.transcoder, GPUID: node.GPUID } : undefined,
    });
    return { kind: 'file', contentType: 'text/xml', body };
  },
};

export const liveConversionProfileActions: ActionSpec[] = [serve];
