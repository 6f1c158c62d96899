/** The daemon's directories: defaults, the state-directory lock, the private runtime directory. */
export {
  APP_DIR,
  currentIdentity,
  defaultStateRoot,
  devStateRoot,
  ephemeralHlsDirectoryName,
  isOwnEphemeralHlsDirectory,
  runtimeBase,
  sweepEphemeralHlsDirectories,
} from './defaults';
export type { Identity } from './defaults';
export { DirectoryLock, LOCK_FILE } from './lock';
export { RuntimeDirectory, sweepStale } from './runtime-dir';
export type { RuntimeDirectoryOptions } from './runtime-dir';
export { PathsError } from './errors';
export type { PathsErrorCode } from './errors';
