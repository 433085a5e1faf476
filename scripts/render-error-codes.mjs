// Rewrites the error-code table of README.md (between <!-- error-codes:begin --> and
// <!-- error-codes:end -->) from the catalogue in shared/errors/codes.ts.
// Run after a build: `npm run build && node scripts/render-error-codes.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { withErrorCodeTable } = createRequire(import.meta.url)(path.join(root, 'shared/dist/errors/index.js'));
const readme = path.join(root, 'README.md');
const before = readFileSync(readme, 'utf8');
const after = withErrorCodeTable(before);
if (after === before) {
  console.log('README.md: the error-code table is up to date');
} else {
  writeFileSync(readme, after);
  console.log('README.md: error-code table rewritten');
}
