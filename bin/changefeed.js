#!/usr/bin/env node
'use strict';
// The CLI is TypeScript compiled by `npm install` (the root `prepare` script runs `tsc -b`).
const path = require('node:path');
const fs = require('node:fs');

const main = path.join(__dirname, '..', 'services', 'cli', 'dist', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write(
    `changefeed: ${path.relative(process.cwd(), main)} is missing; run "npm install" (or "npm run build") in ${path.join(__dirname, '..')} first\n`,
  );
  process.exit(1);
}
require(main);
