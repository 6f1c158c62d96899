#!/usr/bin/env node
// Builds the native core from source in a clone (`npm install` runs it through the prepare
// script; installs from the registry never do). With --if-missing it does nothing when a core
// for this platform already loads (an earlier build, or the prebuilt package of the same
// version), so a second `npm install` does not rebuild. `npm run build` always builds.
'use strict';
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');

// `npm pack` / `npm publish` run prepare too; the tarball never holds a local build.
if (process.env.npm_command === 'pack' || process.env.npm_command === 'publish') process.exit(0);

if (process.argv.includes('--if-missing')) {
  try {
    require(join(root, 'index.js'));
    process.exit(0);
  } catch {
    // fall through: build it
  }
}

const npm = process.env.npm_execpath;
if (npm) execFileSync(process.execPath, [npm, 'run', 'build'], { cwd: root, stdio: 'inherit' });
else execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
