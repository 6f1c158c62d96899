#!/usr/bin/env node
// Builds the prebuilt linux-x64-gnu core that is published as klive-server-linux-x64-gnu:
// napi-rs's cross toolchain (gcc with a glibc 2.17 sysroot, an npm package that `napi build
// --use-napi-cross` fetches) links it against old glibc symbols, so the one binary runs on
// RHEL/Rocky 8, Ubuntu 20.04, Debian 10+ and everything newer. C code built by cc-rs crates
// (mimalloc) is compiled against the same sysroot. Then the glibc check: the build fails above 2.28.
//
// Other platforms are built by .github/workflows/release.yml on their own runners.
'use strict';
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
if (process.platform !== 'linux' || process.arch !== 'x64') {
  process.stderr.write(`build:prebuilt makes the linux-x64-gnu package and runs on a Linux x64 host only (this is ${process.platform}-${process.arch})\n`);
  process.exit(2);
}
const napiManifest = require.resolve('@napi-rs/cli/package.json', { paths: [root] });
const napi = join(napiManifest, '..', require(napiManifest).bin.napi);
const outDir = join('npm', 'linux-x64-gnu');
// C code of cc-built crates goes through the host gcc against the cross toolchain's sysroot
// (scripts/cross-cc.sh says why); a TARGET_CC the caller sets wins.
const env = { ...process.env, TARGET_CC: process.env.TARGET_CC || join(__dirname, 'cross-cc.sh') };
const run = (args) => execFileSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
run([napi, 'build', '--platform', '--release', '--strip', '--no-const-enum',
  '--manifest-path', 'crates/napi/Cargo.toml', '--target', 'x86_64-unknown-linux-gnu', '--use-napi-cross',
  '--output-dir', outDir, '--no-js',
  // The type definitions are the root index.d.ts (`npm run build`); this copy is thrown away.
  '--dts', join('..', '..', 'target', 'prebuilt-index.d.ts')]);
run([join(__dirname, 'check-glibc.js'), join(outDir, 'klive-server.linux-x64-gnu.node')]);
