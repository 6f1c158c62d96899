/**
 * Conversion-profile template → transcode plan, on the XML the embedded Kaltura emulator
 * serves over real HTTP through the product's Kaltura client (the same path the daemon takes
 * on publish), plus the malformed templates a real backend or a proxy could hand us.
 */
import test, { type ExecutionContext } from 'ava';
import {
  DEMO_ENTRY_ID,
  DEMO_MBR_ENTRY_ID,
  DEMO_PARTNER_ID,
  DEMO_PASSTHROUGH_ENTRY_ID,
  MEDIA_SERVER_ADMIN_SECRET,
  demoFixtures,
  startKalturaEmulator,
  type EmulatorFixtures,
  type KalturaEmulator,
} from '../src/dev';
import { AdminSession } from '../src/kaltura/admin-session';
import { KalturaApi } from '../src/kaltura/api';
import { KalturaClient } from '../src/kaltura/client';
import {
  TranscodePlanError,
  enabledEncodes,
  parseTranscodePlan,
  planNeedsFfmpeg,
  type TranscodePlan,
  type TranscodePlanErrorCode,
} from '../src/transcode';

interface Backend {
  emu: KalturaEmulator;
  api: KalturaApi;
}

async function backend(t: ExecutionContext, fixtures: EmulatorFixtures = demoFixtures()): Promise<Backend> {
  const emu = await startKalturaEmulator({ fixtures });
  t.teardown(() => emu.stop());
  // Partner -5 impersonating the entry's partner: the default deployment's path.
  const session = new AdminSession({ secret: MEDIA_SERVER_ADMIN_SECRET, partnerId: -5 });
  const client = new KalturaClient({ serviceUrl: emu.url, partnerId: -5, timeoutMs: 5000, clientTag: 'klive-server:test', session });
  return { emu, api: new KalturaApi(client) };
}

async function served(b: Backend, streamName: string, metadata?: Record<string, unknown>, hostname = 'test-host'): Promise<string> {
  return b.api.conversionProfileServe(streamName, hostname, metadata, DEMO_PARTNER_ID);
}

async function planFor(b: Backend, streamName: string, metadata?: Record<string, unknown>, hostname?: string): Promise<TranscodePlan> {
  return parseTranscodePlan(await served(b, streamName, metadata, hostname), { streamName });
}

const HD_SOURCE = { width: 1920, height: 1080, framerate: 30, videodatarate: 6000, audiodatarate: 128, videocodecidstring: 'avc1', audiocodecidstring: 'AAC' };

test('transcoded profile: the full ladder from a 1080p source, typed', async (t) => {
  const b = await backend(t);
  const stream = `${DEMO_ENTRY_ID}_1`;
  const plan = await planFor(b, stream, HD_SOURCE);
  t.is(plan.sourceStreamName, stream);
  t.deepEqual(
    plan.encodes.map((e) => [e.name, e.streamName, e.enabled, e.video.codec, e.audio.codec]),
    [
      ['Source', `${DEMO_ENTRY_ID}_32`, true, 'passthrough', 'passthrough'],
      ['HD_720', `${DEMO_ENTRY_ID}_42`, true, 'h264', 'aac'],
      ['SD_480', `${DEMO_ENTRY_ID}_43`, true, 'h264', 'aac'],
      ['SD_360', `${DEMO_ENTRY_ID}_44`, true, 'h264', 'aac'],
      ['Audio_only', `${DEMO_ENTRY_ID}_45`, true, 'disabled', 'passthrough'],
    ],
  );
  const [source, hd, sd480, sd360, audio] = plan.encodes;
  t.deepEqual(source.video, { codec: 'passthrough' });
  t.deepEqual(hd.video, {
    codec: 'h264',
    transcoder: 'default',
    gpuId: -1,
    frameSize: { fitMode: 'fit-height', width: 1280, height: 720 },
    profile: 'main',
    bitrateBps: 2_500_000,
    keyFrameInterval: { followSource: true, interval: 60 },
    parameters: { 'mainconcept.bit_rate_mode': '0' },
  });
  t.deepEqual(hd.audio, { codec: 'aac', bitrateBps: 128_000 });
  t.like(sd480.video, { profile: 'main', bitrateBps: 1_200_000, frameSize: { fitMode: 'fit-height', width: 854, height: 480 } });
  t.is(sd480.video.parameters, undefined);
  t.like(sd360.video, { profile: 'baseline', bitrateBps: 600_000 });
  t.deepEqual(sd360.audio, { codec: 'aac', bitrateBps: 64_000 });
  t.is(audio.video.codec, 'disabled');
  t.deepEqual(audio.audio, { codec: 'passthrough', bitrateBps: 64_000 });

  // ${SourceStreamName} resolves to the publishing stream: `<entry>_<n>_all`.
  t.deepEqual(plan.groups, [{ name: 'all', streamName: `${stream}_all`, members: ['Source', 'HD_720', 'SD_480', 'SD_360', 'Audio_only'] }]);
  t.deepEqual(plan.decode, { deinterlace: false });
  t.deepEqual(plan.properties, {});
  t.true(planNeedsFfmpeg(plan));
});

test('transcoded profile: a 640x360 source drops the optional HD flavors (Kaltura decides, the plan follows)', async (t) => {
  const b = await backend(t);
  const plan = await planFor(b, `${DEMO_ENTRY_ID}_1`, { width: 640, height: 360, framerate: 30, videodatarate: 900, audiocodecidstring: 'MP3' });
  t.deepEqual(plan.encodes.map((e) => e.name), ['Source', 'SD_360', 'Audio_only']);
  // Non-AAC source audio: even the source rendition gets AAC.
  t.deepEqual(plan.encodes[0].audio, { codec: 'aac', bitrateBps: 96_000 });
  t.deepEqual(plan.groups[0].members, ['Source', 'SD_360', 'Audio_only']);
});

test('passthrough profile: one encode (a single <Encode>, not an array) and no ffmpeg', async (t) => {
  const b = await backend(t);
  const stream = `${DEMO_PASSTHROUGH_ENTRY_ID}_1`;
  const plan = await planFor(b, stream, { width: 1280, height: 720, audiocodecidstring: 'AAC' });
  t.deepEqual(plan.encodes, [
    { name: 'Source', streamName: `${DEMO_PASSTHROUGH_ENTRY_ID}_32`, enabled: true, video: { codec: 'passthrough' }, audio: { codec: 'passthrough' } },
  ]);
  t.deepEqual(plan.groups, [{ name: 'all', streamName: `${stream}_all`, members: ['Source'] }]);
  t.false(planNeedsFfmpeg(plan));

  // The same profile with MP3 audio must transcode the audio: ffmpeg is needed.
  const mp3 = await planFor(b, stream, { width: 1280, height: 720, audiocodecidstring: 'MP3' });
  t.deepEqual(mp3.encodes[0].audio, { codec: 'aac', bitrateBps: 96_000 });
  t.true(planNeedsFfmpeg(mp3));
});

test('multi-bitrate ingest profile: each ingest is its own passthrough, no ffmpeg', async (t) => {
  const b = await backend(t);
  const first = await planFor(b, `${DEMO_MBR_ENTRY_ID}_1`, { audiocodecidstring: 'AAC' });
  t.deepEqual(first.encodes.map((e) => [e.name, e.streamName]), [['Source', `${DEMO_MBR_ENTRY_ID}_32`]]);
  t.false(planNeedsFfmpeg(first));
  const second = await planFor(b, `${DEMO_MBR_ENTRY_ID}_2`, { audiocodecidstring: 'AAC' });
  t.deepEqual(second.encodes.map((e) => [e.name, e.streamName, e.video.codec, e.audio.codec]), [['Ingest_2', `${DEMO_MBR_ENTRY_ID}_36`, 'passthrough', 'passthrough']]);
  t.deepEqual(second.groups[0], { name: 'all', streamName: `${DEMO_MBR_ENTRY_ID}_2_all`, members: ['Ingest_2'] });
  t.false(planNeedsFfmpeg(second));
});

test('frame-rate property, SkipFrameCount and GPU hints are carried into the plan', async (t) => {
  const fixtures = demoFixtures();
  const source = fixtures.flavorParams.find((f) => f.id === 32);
  const sd360 = fixtures.flavorParams.find((f) => f.id === 44);
  if (!source || !sd360) return t.fail('demo fixtures changed');
  source.frameRate = 30;
  sd360.maxFrameRate = 15;
  const b = await backend(t, fixtures);
  const plan = await planFor(b, `${DEMO_ENTRY_ID}_1`, { ...HD_SOURCE, framerate: 60 });
  t.deepEqual(plan.properties, { sourceStreamFrameRate: 30 });
  // ceil(60 / 15 - 1.05) = 3: one frame in four is encoded.
  t.is(plan.encodes.find((e) => e.name === 'SD_360')?.video.skipFrameCount, 3);
  t.is(plan.encodes.find((e) => e.name === 'SD_480')?.video.skipFrameCount, undefined);

  b.emu.registerServerNode('gpu1.example', { transcoder: 'nvidia', GPUID: 0 });
  const gpu = await planFor(b, `${DEMO_ENTRY_ID}_1`, { ...HD_SOURCE, gpu: 'true' }, 'gpu1.example');
  t.deepEqual(gpu.decode, { deinterlace: false, implementation: 'NVCUVID' });
  t.is(gpu.scaleImplementation, 'CUDA');
  t.like(gpu.encodes[1].video, { transcoder: 'nvidia', gpuId: 0, implementation: 'NVENC' });
});

// ---------------------------------------------------------------------------------------------
// Errors: each refuses the stream with a code and a message naming the stream.

const STREAM = '0_abcdefgh_1';

function rejects(t: ExecutionContext, xml: string, code: TranscodePlanErrorCode, message: RegExp): void {
  const err = t.throws(() => parseTranscodePlan(xml, { streamName: STREAM }), { instanceOf: TranscodePlanError });
  t.is(err?.code, code, err?.message);
  t.regex(err?.message ?? '', message);
  t.true(err?.message.includes(STREAM), 'the message names the stream');
}

function template(encodes: string, rest = ''): string {
  return `<?xml version="1.0"?>\n<Root><Transcode><Encodes>${encodes}</Encodes>${rest}</Transcode></Root>`;
}

function encode(name: string, body: string, extra = ''): string {
  return `<Encode><Enable>true</Enable><Name>${name}</Name><StreamName>0_abcdefgh_${name}</StreamName>${body}${extra}</Encode>`;
}

const PASS = '<Video><Codec>PassThru</Codec></Video><Audio><Codec>PassThru</Codec></Audio>';

test('invalid XML: empty body (Kaltura file-action error), garbage, unbalanced tags', (t) => {
  rejects(t, '', 'INVALID_XML', /template is empty/);
  rejects(t, '   \n', 'INVALID_XML', /template is empty/);
  rejects(t, 'Internal Server Error', 'INVALID_XML', /not valid XML/);
  rejects(t, '<Root><Transcode><Encodes></Transcode></Root>', 'INVALID_XML', /not valid XML \(Expected closing tag/);
});

test('no Root/Transcode, no encodes, none enabled', (t) => {
  rejects(t, '<Root/>', 'NO_TRANSCODE', /no Root\/Transcode/);
  rejects(t, '<Other><Transcode/></Other>', 'NO_TRANSCODE', /no Root\/Transcode/);
  rejects(t, template(''), 'NO_ENCODES', /has no ingest in conversion profile/);
  rejects(t, '<Root><Transcode/></Root>', 'NO_ENCODES', /has no ingest in conversion profile/);
  rejects(t, template(encode('a', PASS).replace('<Enable>true', '<Enable>false')), 'NO_ENCODES', /no enabled encode/);
});

test('encodes that cannot be honoured', (t) => {
  rejects(t, template(encode('a', '<Video><Codec>H.265</Codec></Video><Audio><Codec>AAC</Codec></Audio>')), 'UNSUPPORTED_SETTING', /encode a Video: video codec "H.265"/);
  rejects(t, template(encode('a', '<Video><Codec>PassThru</Codec></Video><Audio><Codec>Opus</Codec></Audio>')), 'UNSUPPORTED_SETTING', /audio codec "Opus"/);
  rejects(
    t,
    template(encode('a', '<Video><Codec>H.264</Codec><FrameSize><FitMode>letterbox</FitMode></FrameSize></Video><Audio><Codec>AAC</Codec></Audio>')),
    'UNSUPPORTED_SETTING',
    /FitMode "letterbox"/,
  );
  rejects(t, template(encode('a', '<Video><Codec>H.264</Codec><Profile>high10</Profile></Video><Audio><Codec>AAC</Codec></Audio>')), 'UNSUPPORTED_SETTING', /profile "high10"/);
  rejects(t, template(encode('a', '<Video><Codec>H.264</Codec><Bitrate>${SourceVideoBitrate}</Bitrate></Video><Audio><Codec>AAC</Codec></Audio>')), 'INVALID_ENCODE', /<Bitrate> is not an integer/);
  rejects(t, template(encode('a', '<Video><Codec>H.264</Codec><FrameSize><FitMode>fit-height</FitMode><Width>640</Width></FrameSize></Video><Audio><Codec>AAC</Codec></Audio>')), 'INVALID_ENCODE', /fit-height needs <Height>/);
  rejects(t, template(encode('a', '<Audio><Codec>AAC</Codec></Audio>')), 'INVALID_ENCODE', /encode a: <Video> is missing/);
  rejects(t, template(encode('a', '<Video><Codec>Disable</Codec></Video><Audio><Codec>Disable</Codec></Audio>')), 'INVALID_ENCODE', /disables both video and audio/);
  rejects(t, template(`<Encode><Name>a</Name>${PASS}</Encode>`), 'INVALID_ENCODE', /encode a: <StreamName> is missing/);
  rejects(t, template(`<Encode><StreamName>x</StreamName>${PASS}</Encode>`), 'INVALID_ENCODE', /Encode #1: <Name> is missing/);
  rejects(t, template(encode('a', PASS).replace('<Enable>true', '<Enable>yes')), 'INVALID_ENCODE', /must be true or false/);
  rejects(t, template(encode('a', PASS, '<Name>b</Name>')), 'INVALID_ENCODE', /<Name> appears 2 times/);
  rejects(t, template(encode('a', PASS) + encode('a', PASS)), 'DUPLICATE_ENCODE', /two encodes are named a/);
  rejects(
    t,
    template(`<Encode><Name>a</Name><StreamName>s</StreamName>${PASS}</Encode><Encode><Name>b</Name><StreamName>mp4:s</StreamName>${PASS}</Encode>`),
    'DUPLICATE_ENCODE',
    /two enabled encodes publish s/,
  );
  rejects(
    t,
    template(encode('a', PASS), '<StreamNameGroups><StreamNameGroup><Name>all</Name><StreamName>x_all</StreamName><Members><Member><EncodeName>zz</EncodeName></Member></Members></StreamNameGroup></StreamNameGroups>'),
    'INVALID_GROUP',
    /lists encode "zz"/,
  );
});

test('quirks: mp4: prefix, ${SourceStreamName} in encode names, disabled encodes kept, SkipFrameCount as a number, default Enable', (t) => {
  const xml = template(
    [
      `<Encode><Name>src</Name><StreamName>mp4:\${SourceStreamName}_src</StreamName>${PASS}</Encode>`,
      `<Encode><Enable>false</Enable><Name>off</Name><StreamName>off</StreamName>${PASS}</Encode>`,
      '<Encode><Enable>TRUE</Enable><Name>low</Name><StreamName>low</StreamName><Video><Codec>h.263</Codec><SkipFrameCount>2</SkipFrameCount>' +
        '<FrameSize><FitMode>fit-width</FitMode><Width>320</Width></FrameSize><KeyFrameInterval><FollowSource>false</FollowSource><Interval>48</Interval></KeyFrameInterval></Video>' +
        '<Audio><Codec>Disable</Codec></Audio></Encode>',
    ].join(''),
    '<Properties><Property><Name>sourceStreamFrameRate</Name><Value>29.97</Value><Type>Double</Type></Property>' +
      '<Property><Name>flag</Name><Value>true</Value><Type>Boolean</Type></Property><Property><Name>label</Name><Value>x</Value><Type>String</Type></Property></Properties>',
  );
  const plan = parseTranscodePlan(xml, { streamName: STREAM });
  t.deepEqual(plan.encodes.map((e) => [e.name, e.streamName, e.enabled]), [
    ['src', `${STREAM}_src`, true],
    ['off', 'off', false],
    ['low', 'low', true],
  ]);
  t.deepEqual(enabledEncodes(plan).map((e) => e.name), ['src', 'low']);
  t.deepEqual(plan.encodes[2].video, {
    codec: 'h263',
    skipFrameCount: 2,
    frameSize: { fitMode: 'fit-width', width: 320 },
    keyFrameInterval: { followSource: false, interval: 48 },
  });
  t.deepEqual(plan.properties, { sourceStreamFrameRate: 29.97, flag: true, label: 'x' });
  t.deepEqual(plan.groups, []);
  t.true(planNeedsFfmpeg(plan));
});

test('an emulator error (unknown ingest suffix) rejects the serve call, so no plan is built', async (t) => {
  const b = await backend(t);
  // Kaltura answers file actions' errors with an empty body and `X-Kaltura: error-<CODE>`,
  // `X-Kaltura-App: exiting on error <CODE> - <message>`: the client reads them into the
  // same KalturaApiError a JSON call gets, so the publisher hears Kaltura's reason.
  const err = await t.throwsAsync(() => served(b, `${DEMO_ENTRY_ID}_9`));
  t.like(err, { name: 'KalturaApiError', code: 'INGEST_NOT_FOUND_IN_CONVERSION_PROFILE', message: `Ingest "${DEMO_ENTRY_ID}_9" is not in conversion profile` });
  t.is(b.emu.callsOf('wowza_liveconversionprofile', 'serve').at(-1)?.result, 'INGEST_NOT_FOUND_IN_CONVERSION_PROFILE');
});
