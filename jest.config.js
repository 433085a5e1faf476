/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
  moduleNameMapper: {
    // Tests run the TypeScript sources; the services' own builds resolve the compiled dist/.
    '^@changefeed/shared/(.*)$': '<rootDir>/shared/$1/index.ts',
    '^@changefeed/(poller|loader|batch|demo-api|pipeline|cli)$': '<rootDir>/services/$1/src/index.ts',
  },
  // Real emulators (Pub/Sub, Firestore, BigQuery) for the GCP adapter tests; see tests/global-setup.ts.
  globalSetup: '<rootDir>/tests/global-setup.ts',
  globalTeardown: '<rootDir>/tests/global-teardown.ts',
  testTimeout: 30_000,
  // e2e tests start processes and servers; two cores do not like more workers than that.
  maxWorkers: 2,
};
