const path = require('node:path');

/**
 * One jest project per set of emulators a test needs, chosen by path so that a file added to an
 * existing directory lands in the right one. A project's global setup runs only when one of its
 * tests is selected: `npx jest --selectProjects unit` (npm run test:unit) and `--selectProjects
 * local` start nothing; a run of one tests/integration/gcp/ file starts the four emulators.
 *
 * - unit:  tests/unit/                                    no emulator
 * - gcp:   tests/integration/gcp/, and e2e files whose    Pub/Sub, Firestore, BigQuery,
 *          name says gcp, pubsub, firestore or bigquery   Cloud Storage (tests/global-setup.ts)
 * - bench: tests/bench/ (the benchmark smoke test)        Pub/Sub (tests/emulators/pubsub-global-setup.ts)
 * - local: every other tests/**\/*.test.ts (integration,  no emulator
 *          contract, e2e, deploy, and any new directory)
 *
 * `local` is "the rest", so every test file is in exactly one project. The emulator-free projects
 * clear the emulator variables in each test file (tests/emulators/without-emulators.ts), so a test
 * that needs an emulator fails there even in a full run, where the gcp setup has set them.
 */

/** Regexes (absolute, from this directory) of the files each emulator project takes. */
const root = path.resolve(__dirname).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const UNIT_TESTS = [`^${root}/tests/unit/.*\\.test\\.ts$`];
const GCP_TESTS = [
  `^${root}/tests/integration/gcp/.*\\.test\\.ts$`,
  `^${root}/tests/e2e/(.*/)?[^/]*(gcp|pubsub|firestore|bigquery)[^/]*\\.test\\.ts$`,
];
const BENCH_TESTS = [`^${root}/tests/bench/.*\\.test\\.ts$`];

const moduleNameMapper = {
  // Tests run the TypeScript sources; the services' own builds resolve the compiled dist/.
  '^@changefeed/shared/(.*)$': '<rootDir>/shared/$1/index.ts',
  '^@changefeed/(poller|loader|batch|demo-api|pipeline|cli)$': '<rootDir>/services/$1/src/index.ts',
};

/** What every project shares: jest does not pass the root's project options down to inline projects. */
const common = {
  rootDir: __dirname,
  roots: ['<rootDir>/tests'],
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
  moduleNameMapper,
};

/** Real emulators over the wire; see tests/global-setup.ts. One teardown stops what any setup started. */
const withEmulators = (globalSetup) => ({
  globalSetup,
  globalTeardown: '<rootDir>/tests/global-teardown.ts',
});
const withoutEmulators = { setupFiles: ['<rootDir>/tests/emulators/without-emulators.ts'] };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, ...withoutEmulators, displayName: 'unit', testRegex: UNIT_TESTS },
    {
      ...common,
      ...withoutEmulators,
      displayName: 'local',
      testRegex: [`^${root}/tests/.*\\.test\\.ts$`],
      testPathIgnorePatterns: ['/node_modules/', ...UNIT_TESTS, ...GCP_TESTS, ...BENCH_TESTS],
    },
    { ...common, ...withEmulators('<rootDir>/tests/global-setup.ts'), displayName: 'gcp', testRegex: GCP_TESTS },
    {
      ...common,
      ...withEmulators('<rootDir>/tests/emulators/pubsub-global-setup.ts'),
      displayName: 'bench',
      testRegex: BENCH_TESTS,
    },
  ],
  // Both are run-wide in jest 30 (jest-circus reads testTimeout from the global config, and the
  // workers are one pool for every project), so they live here and hold for every project.
  testTimeout: 30_000,
  // e2e tests start processes and servers; two cores do not like more workers than that.
  maxWorkers: 2,
};
