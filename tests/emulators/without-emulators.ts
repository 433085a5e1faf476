import { EMULATOR_VARIABLES } from './emulator-variables';

/**
 * setupFiles of the projects that need no emulator (unit, local). In a full run the gcp project's
 * global setup has set the emulator variables in the environment every worker inherits; clearing
 * them from this test file's process.env makes the file run as it does alone
 * (`npx jest --selectProjects unit`), so a test that needs an emulator fails here in every run,
 * not only when no gcp test is selected beside it. Such a test belongs under
 * tests/integration/gcp/ (or in an e2e file named for gcp, pubsub, firestore or bigquery).
 */
for (const variable of Object.values(EMULATOR_VARIABLES).flat()) delete process.env[variable];
// As the emulator setups do: tests never run on Google Cloud, so no metadata-server probe.
process.env['METADATA_SERVER_DETECTION'] ??= 'none';
