#!/usr/bin/env node
'use strict';
// `npm run docs`: rewrites the generated parts of the documentation from their sources (after
// `tsc -b`): the README's configuration tables and the editors' JSON Schema, from the config
// schema, and the README's error-code table, from the catalogue in shared/errors/codes.ts.
// tests/unit/config/config-docs.test.ts and tests/unit/errors/error-codes.test.ts fail while any
// of them is out of date.
const fs = require('node:fs');
const path = require('node:path');
const { configDocBlocks, configJsonSchemaText, replaceGeneratedBlocks, CONFIG_SCHEMA_FILE } = require(
  path.join(__dirname, '..', 'shared', 'dist', 'config', 'index.js'),
);

const { withErrorCodeTable } = require(path.join(__dirname, '..', 'shared', 'dist', 'errors', 'index.js'));

const root = path.join(__dirname, '..');
const readme = path.join(root, 'README.md');
const blocks = [...configDocBlocks()];
fs.writeFileSync(readme, withErrorCodeTable(replaceGeneratedBlocks(fs.readFileSync(readme, 'utf8'), blocks)));
fs.writeFileSync(path.join(root, 'examples', CONFIG_SCHEMA_FILE), configJsonSchemaText());
process.stdout.write(
  `README.md: ${blocks.length} generated blocks and the error-code table; examples/${CONFIG_SCHEMA_FILE}\n`,
);
