/**
 * Demo data for `klive-server --dev` and tests: a demo partner (102), the media-server partner
 * (-5), three live entries (one per kind of conversion profile) and flavor params modelled on
 * Kaltura's default live params (deployment/base/scripts/init_data/04.liveParams.ini: source
 * id 32 with stream suffix 1, ingest_2/ingest_3 ids 36/37 with suffixes 2/3, HD flavors tagged
 * optional_flavor). The secrets are public dev values, never real credentials.
 */
import type { EmulatorFixtures } from './fixtures';

export const DEMO_PARTNER_ID = 102;
export const DEMO_ADMIN_SECRET = 'd3m0adm1nsecret0000000000000102a';
export const DEMO_USER_SECRET = 'd3m0usersecret00000000000000102u';
export const MEDIA_SERVER_ADMIN_SECRET = 'med1aserveradm1nsecret00000000-5';

/** Transcoded entry (source + 720p/480p/360p H.264 + audio-only). */
export const DEMO_ENTRY_ID = '0_demo1234';
export const DEMO_ENTRY_TOKEN = 'demotoken';
/** Passthrough-only entry. */
export const DEMO_PASSTHROUGH_ENTRY_ID = '0_demopass';
/** Multi-bitrate ingest entry (the encoder sends `_1`, `_2`, `_3`). */
export const DEMO_MBR_ENTRY_ID = '0_demombr1';
/** Passthrough entry with recording on: publish → HLS → MP4 segments → appendRecording. */
export const DEMO_RECORDING_ENTRY_ID = '0_demorec1';
/** Passthrough entry with an SRT pass: its SRT stream id carries `ep=` and the caller encrypts. */
export const DEMO_SRT_ENTRY_ID = '0_demosrt1';
/** The demo SRT pass (the SRT passphrase of DEMO_SRT_ENTRY_ID). */
export const DEMO_SRT_PASS = 'demosrtpass2026';

export const DEMO_PROFILES = { passthrough: 1001, transcoded: 1002, multiIngest: 1003 } as const;

export function demoFixtures(): EmulatorFixtures {
  const aacStereo = { audioCodec: 'aac' as const, audioSampleRate: 44100, audioChannels: 2 };
  const liveEntry = { partnerId: DEMO_PARTNER_ID, token: DEMO_ENTRY_TOKEN, recordStatus: 0, dvrStatus: 1, dvrWindow: 120, segmentDuration: 6000 };
  return {
    partners: [
      {
        id: DEMO_PARTNER_ID,
        name: 'Demo partner',
        adminSecret: DEMO_ADMIN_SECRET,
        secret: DEMO_USER_SECRET,
        permissions: ['FEATURE_LIVE_STREAM', 'FEATURE_KALTURA_LIVE_STREAM', 'FEATURE_KALTURA_LIVE_STREAM_TRANSCODE'],
        // Kaltura's default is 10 of each; the demo partner also serves load tests and benches.
        maxLiveStreamInputs: 1000,
        maxLiveStreamOutputs: 1000,
      },
      {
        id: -5,
        name: 'Media server partner',
        adminSecret: MEDIA_SERVER_ADMIN_SECRET,
        secret: 'med1aserverusersecret000000000-5',
        permissions: [],
        partnerGroup: '*',
      },
    ],
    entries: [
      { ...liveEntry, id: DEMO_ENTRY_ID, name: 'Demo live (transcoded)', conversionProfileId: DEMO_PROFILES.transcoded },
      { ...liveEntry, id: DEMO_PASSTHROUGH_ENTRY_ID, name: 'Demo live (passthrough)', conversionProfileId: DEMO_PROFILES.passthrough },
      { ...liveEntry, id: DEMO_MBR_ENTRY_ID, name: 'Demo live (multi-bitrate ingest)', conversionProfileId: DEMO_PROFILES.multiIngest },
      { ...liveEntry, id: DEMO_RECORDING_ENTRY_ID, name: 'Demo live (recorded)', conversionProfileId: DEMO_PROFILES.passthrough, recordStatus: 1 },
      { ...liveEntry, id: DEMO_SRT_ENTRY_ID, name: 'Demo live (SRT, encrypted)', conversionProfileId: DEMO_PROFILES.passthrough, srtPass: DEMO_SRT_PASS },
    ],
    conversionProfiles: [
      { id: DEMO_PROFILES.passthrough, partnerId: DEMO_PARTNER_ID, name: 'Passthrough', flavorParamsIds: [32] },
      { id: DEMO_PROFILES.transcoded, partnerId: DEMO_PARTNER_ID, name: 'Cloud transcode', flavorParamsIds: [32, 42, 43, 44, 45] },
      { id: DEMO_PROFILES.multiIngest, partnerId: DEMO_PARTNER_ID, name: 'Multi-bitrate ingest', flavorParamsIds: [32, 36, 37] },
    ],
    flavorParams: [
      {
        id: 32,
        name: 'Source',
        systemName: 'Source',
        tags: 'source,ingest,web,mobile,recording_anchor',
        isSource: true,
        streamSuffix: '1',
        videoCodec: 'copy',
        videoBitrate: 0,
        width: 0,
        height: 0,
        audioCodec: 'copy',
        audioBitrate: 0,
        frameRate: 0,
      },
      {
        id: 36,
        name: 'Ingest 2',
        systemName: 'Ingest_2',
        tags: 'mbr,ingest,web,mobile',
        streamSuffix: '2',
        videoCodec: 'copy',
        videoBitrate: 1000,
        width: 854,
        height: 480,
        audioCodec: 'copy',
        audioBitrate: 0,
      },
      {
        id: 37,
        name: 'Ingest 3',
        systemName: 'Ingest_3',
        tags: 'mbr,ingest,web,mobile',
        streamSuffix: '3',
        videoCodec: 'copy',
        videoBitrate: 600,
        width: 640,
        height: 360,
        audioCodec: 'copy',
        audioBitrate: 0,
      },
      {
        id: 42,
        name: 'HD/720 - WEB/MBL (H264/2500)',
        systemName: 'HD_720',
        tags: 'mbr,web,mobile,optional_flavor',
        videoCodec: 'h264m',
        videoBitrate: 2500,
        width: 1280,
        height: 720,
        ...aacStereo,
        audioBitrate: 128,
        conversionEnginesExtraParams: '{"constantBitrate": true}',
      },
      {
        id: 43,
        name: 'SD/Large - WEB/MBL (H264/1200)',
        systemName: 'SD_480',
        tags: 'mbr,web,mobile,optional_flavor',
        videoCodec: 'h264m',
        videoBitrate: 1200,
        width: 854,
        height: 480,
        ...aacStereo,
        audioBitrate: 96,
      },
      {
        id: 44,
        name: 'SD/Small - WEB/MBL (H264/600)',
        systemName: 'SD_360',
        tags: 'mbr,web,mobile',
        videoCodec: 'h264b',
        videoBitrate: 600,
        width: 640,
        height: 360,
        ...aacStereo,
        audioBitrate: 64,
      },
      {
        id: 45,
        name: 'Audio only',
        systemName: 'Audio_only',
        tags: 'mbr,web,mobile,audio_only',
        videoCodec: '',
        videoBitrate: 0,
        width: 0,
        height: 0,
        ...aacStereo,
        audioBitrate: 64,
      },
    ],
    requireRegisteredMediaServer: true,
  };
}
