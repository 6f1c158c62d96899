#!/usr/bin/env node
'use strict';
// The TypeScript sources run through tsx's require hook: no separate compile step to forget.
require('tsx/cjs');
require('../src/cli.ts');
