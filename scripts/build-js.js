#!/usr/bin/env node
// Compiles src/ to dist/ (what the published package runs: `bin/klive-server.js` and the
// embedding API), with source maps that carry their sources, so stack traces name the
// TypeScript lines without src/ in the package. Static dashboard files are copied beside
// the module that serves them. dist/ is emptied first: a deleted module never lingers.
'use strict';
const { execFileSync } = require('node:child_process');
const { cpSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
cpSync(join(root, 'src', 'http', 'dashboard'), join(dist, 'http', 'dashboard'), { recursive: true });
