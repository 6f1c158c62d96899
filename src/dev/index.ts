/** Public API of the embedded Kaltura API emulator (`klive-server --dev`, tests). */
export { startKalturaEmulator } from './emulator';
export type { KalturaEmulator, KalturaEmulatorOptions } from './emulator';
export type { DownMode } from './http-server';
export type { EmulatorCall, LoggedParam, LoggedParams } from './dispatcher';
export { loadFixtures, validateFixtures, ENTRY_ID_PATTERN } from './fixtures';
export type {
  EmulatorFixtures,
  FixtureAudioCodec,
  FixtureConversionProfile,
  FixtureEntry,
  FixtureEntryServerNode,
  FixtureLiveStreamParams,
  FixtureFlavorParams,
  FixturePartner,
  FixtureServerNode,
  FixtureVideoCodec,
} from './fixtures';
export {
  demoFixtures,
  DEMO_ADMIN_SECRET,
  DEMO_ENTRY_ID,
  DEMO_ENTRY_TOKEN,
  DEMO_MBR_ENTRY_ID,
  DEMO_PARTNER_ID,
  DEMO_PASSTHROUGH_ENTRY_ID,
  DEMO_PROFILES,
  DEMO_RECORDING_ENTRY_ID,
  DEMO_USER_SECRET,
  MEDIA_SERVER_ADMIN_SECRET,
} from './demo-fixtures';
export { EmulatorError, KalturaApiError } from './errors';
export type { EmulatorErrorCode } from './errors';
export { parseKs, ksValidity } from './ks-verify';
export type { KsSession, KsParseResult } from './ks-verify';
export { MEDIA_SERVER_PARTNER_ID, liveAssetId } from './state';
export type { BeaconRecord, RecordingRecord, ServerNodeRecord, VodEntryRecord } from './state';
export { EntryServerNodeStatus, RecordStatus } from './live-nodes';
export type { ReceivedRecordingChunk } from './received-recordings';
