#!/usr/bin/env node
// Builds the native addon from source. Runs on `npm install`: with --if-missing it does
// nothing when a binary for this platform already loads (a prebuilt package or an earlier
// build), so installing from the registry needs no Rust toolchain once binaries are published.
'use strict';
const { execFileSync } = require('node:child_process');
const { copyFileSync, existsSync } = require('node:fs');
const { dirname, join } = require('node:path');

const root = join(__dirname, '..');

if (process.argv.includes('--if-missing')) {
  try {
    require(join(root, 'index.js'));
    process.exit(0);
  } catch {
    // fall through: build it
  }
}

/** Path of the napi CLI's executable when @napi-rs/cli is installed (a development checkout). */
function napiCli() {
  try {
    const manifest = require.resolve('@napi-rs/cli/package.json', { paths: [root] });
    const bin = require(manifest).bin;
    return join(dirname(manifest), typeof bin === 'string' ? bin : bin.napi);
  } catch {
    return undefined;
  }
}

const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

const cli = napiCli();
if (cli) {
  // Development checkout: the napi CLI also regenerates index.js / index.d.ts.
  run(process.execPath, [cli, 'build', '--platform', '--release',
    '--no-const-enum', '--manifest-path', 'crates/napi/Cargo.toml', '--output-dir', '.', '--js', 'index.js', '--dts', 'index.d.ts']);
} else {
  // Installed as a dependency without a prebuilt binary: plain cargo, loader already shipped.
  run('cargo', ['build', '--release', '-p', 'klive-napi']);
  const triple = { 'linux-x64': 'linux-x64-gnu', 'linux-arm64': 'linux-arm64-gnu', 'darwin-x64': 'darwin-x64', 'darwin-arm64': 'darwin-arm64' }[
    `${process.platform}-${process.arch}`
  ];
  if (!triple) throw new Error(`no build recipe for ${process.platform}-${process.arch}`);
  const lib = process.platform === 'darwin' ? 'libklive_napi.dylib' : 'libklive_napi.so';
  const built = join(root, 'target', 'release', lib);
  if (!existsSync(built)) throw new Error(`cargo did not produce ${built}`);
  copyFileSync(built, join(root, `klive-server.${triple}.node`));
}
