// Loads klive-server's native core (the napi-rs addon built from crates/napi).
//
// Order: a local build next to this file (`klive-server.<platform>.node`, what `npm run build`
// and the from-source fallback of `npm install` produce, so a developer's fresh build always
// wins), then the prebuilt package `klive-server-<platform>` (an optionalDependency that npm
// installs only on its own platform), then an error that names the platform and how to build.
// `KLIVE_NATIVE_PATH` names another .node file to load instead (tests, packagers).
// Written by hand, not by `napi build` (which is run with --no-js): the generated loader
// covers WASI and browsers this package does not ship, and ends in an npm-bug hint
// instead of the platform and the way out.
'use strict';

const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const BINARY = 'klive-server';
const { version, napi } = require('./package.json');

/**
 * napi-rs's platform name of a Rust target triple: x86_64-unknown-linux-gnu → linux-x64-gnu,
 * aarch64-apple-darwin → darwin-arm64.
 */
function platformOfTriple(triple) {
  const [cpu, , os, abi] = triple.split('-');
  const arch = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32' }[cpu] ?? cpu;
  if (os === 'darwin') return `darwin-${arch}`;
  if (os === 'windows') return `win32-${arch}-${abi}`;
  return `${os}-${arch}-${abi}`;
}

/** Platforms with a prebuilt package (napi.targets; `napi prepublish` lists each in optionalDependencies). */
const PREBUILT = napi.targets.map(platformOfTriple);

/** musl or glibc: Node's own report says which C library it runs on. */
function linuxLibc() {
  try {
    const header = process.report.getReport().header;
    if (header.glibcVersionRuntime) return 'gnu';
  } catch {
    // no report: look at the dynamic loader instead
  }
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl') ? 'musl' : 'gnu';
  } catch {
    return 'gnu';
  }
}

/** napi-rs's name for this machine: linux-x64-gnu, darwin-arm64, win32-x64-msvc … */
function platformName() {
  const { platform, arch } = process;
  if (platform === 'linux') return `linux-${arch}-${linuxLibc()}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function load() {
  const platform = platformName();
  const tried = [];
  const attempt = (what, path) => {
    try {
      return require(path);
    } catch (error) {
      tried.push(`  ${what}: ${error && error.message ? error.message.split('\n')[0] : String(error)}`);
      return undefined;
    }
  };

  if (process.env.KLIVE_NATIVE_PATH) {
    const binding = attempt(`KLIVE_NATIVE_PATH=${process.env.KLIVE_NATIVE_PATH}`, process.env.KLIVE_NATIVE_PATH);
    if (binding) return binding;
  } else {
    const local = join(__dirname, `${BINARY}.${platform}.node`);
    if (existsSync(local)) {
      const binding = attempt(`local build ${local}`, local);
      if (binding) return binding;
    } else {
      tried.push(`  local build: no ${local}`);
    }
    const pkg = `${BINARY}-${platform}`;
    let pkgVersion;
    try {
      pkgVersion = require(`${pkg}/package.json`).version;
    } catch {
      tried.push(`  package ${pkg}: not installed`);
    }
    if (pkgVersion !== undefined && pkgVersion !== version) {
      tried.push(`  package ${pkg}: version ${pkgVersion}, but klive-server is ${version} (reinstall klive-server)`);
    } else if (pkgVersion !== undefined) {
      const binding = attempt(`package ${pkg}`, pkg);
      if (binding) return binding;
    }
  }

  const prebuilt = PREBUILT.includes(platform)
    ? `A prebuilt core for ${platform} is published as the optional dependency ${BINARY}-${platform}: ` +
      'reinstall without --omit=optional / --no-optional (npm install klive-server).'
    : `No prebuilt core is published for ${platform} (prebuilt: ${PREBUILT.join(', ')}).`;
  const error = new Error(
    [
      `klive-server: no native core for ${platform} (Node ${process.version}).`,
      prebuilt,
      'To build it from source: install a Rust toolchain (https://rustup.rs), then in a clone of klive-server run',
      `\`npm install && npm run build\`, and set KLIVE_NATIVE_PATH to the ${BINARY}.${platform}.node it makes.`,
      'Tried:',
      ...tried,
    ].join('\n'),
  );
  error.code = 'KLIVE_NATIVE_MISSING';
  error.platform = platform;
  throw error;
}

module.exports = load();
