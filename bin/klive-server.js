#!/usr/bin/env node
'use strict';
// The published package runs the compiled dist/ (built by `npm run build:js`, which `npm
// install` in a clone and `npm pack` run through the prepare script). Source maps make stack
// traces name the TypeScript lines.
process.setSourceMapsEnabled(true);
try {
  require.resolve('../dist/cli.js');
} catch {
  process.stderr.write('klive-server: dist/ is missing; in a clone, run `npm run build:js` (or `npm install`) first\n');
  process.exit(1);
}
require('../dist/cli.js');
