import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import type { EmulatorSpec } from './start-emulator';

const INSTALL_HINT =
  'Install the Google Cloud CLI with its emulators (gcloud components install pubsub-emulator cloud-firestore-emulator, ' +
  'or the Debian packages google-cloud-cli-pubsub-emulator and google-cloud-cli-firestore-emulator) and Java 17+, ' +
  'or point PUBSUB_EMULATOR_HOST / FIRESTORE_EMULATOR_HOST at emulators you started yourself.';

/** The `platform/` folder of the installed google-cloud-cli, where its emulators live. */
export function gcloudPlatformDir(): string {
  const fromEnv = process.env['GCLOUD_PLATFORM_DIR'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  try {
    const gcloud = execFileSync('sh', ['-c', 'command -v gcloud'], { encoding: 'utf8' }).trim();
    return path.resolve(path.dirname(realpathSync(gcloud)), '..', 'platform');
  } catch {
    return '/usr/lib/google-cloud-sdk/platform';
  }
}

export function pubsubEmulator(): EmulatorSpec {
  return {
    name: 'Pub/Sub',
    command: path.join(gcloudPlatformDir(), 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator'),
    args: (port) => ['--host=127.0.0.1', `--port=${port}`],
    installHint: INSTALL_HINT,
  };
}

export function firestoreEmulator(): EmulatorSpec {
  return {
    name: 'Firestore',
    command: path.join(gcloudPlatformDir(), 'cloud-firestore-emulator', 'cloud_firestore_emulator'),
    args: (port) => ['start', '--host=127.0.0.1', `--port=${port}`],
    installHint: INSTALL_HINT,
  };
}
