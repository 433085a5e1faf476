import type { ClientConfig } from '@google-cloud/pubsub';
import { googleAuthLibrary } from 'google-gax';

/** A token that is never refreshed or checked: the emulators accept any. */
const EMULATOR_CREDENTIALS = { access_token: 'emulator' };

/**
 * The auth client every client gets when it talks to an emulator. Without one, google-auth-library
 * looks for Application Default Credentials as soon as a gRPC stub is made (gax asks it for the
 * universe domain even when `sslCreds` are plaintext), and outside Google Cloud that ends in a
 * probe of the metadata server and gcp-metadata's `MetadataLookupWarning` printed on stderr, in the
 * middle of JSON lines. With a client of its own, the library looks for nothing.
 * (gax's own copy of google-auth-library, whose client type the gax-based clients expect.)
 */
export function emulatorAuthClient(): googleAuthLibrary.OAuth2Client {
  return new googleAuthLibrary.OAuth2Client({ credentials: EMULATOR_CREDENTIALS });
}

function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

/**
 * Options for a `PubSub` client: on the emulator `emulatorHost` (PUBSUB_EMULATOR_HOST as the
 * caller read it) names, pointed there explicitly and with the emulator's auth client; else on
 * Google Cloud with Application Default Credentials. Absent or '' means Google Cloud.
 */
export function pubSubClientOptions(projectId: string, emulatorHost: string | undefined): ClientConfig {
  return isSet(emulatorHost)
    ? { projectId, apiEndpoint: emulatorHost, authClient: emulatorAuthClient() }
    : { projectId };
}

/**
 * What a `Firestore` client adds to its settings: on the emulator (FIRESTORE_EMULATOR_HOST, which
 * the client reads by itself), the emulator's auth client; on Google Cloud, nothing.
 */
export function firestoreEmulatorSettings(emulatorHost: string | undefined): {
  readonly authClient?: googleAuthLibrary.OAuth2Client;
} {
  return isSet(emulatorHost) ? { authClient: emulatorAuthClient() } : {};
}

/**
 * The Cloud Storage endpoint the config or the emulator variable names, with a scheme: the
 * config's `gcp.storage.apiEndpoint`, else STORAGE_EMULATOR_HOST (as `host:port`, like the other
 * emulator variables, or as a URL); a bare `host:port` is an emulator and spoken over plain HTTP.
 * Undefined means Google Cloud.
 */
export function storageEndpoint(configured: string | undefined, emulatorHost: string | undefined): string | undefined {
  const endpoint = configured ?? (isSet(emulatorHost) ? emulatorHost : undefined);
  if (endpoint === undefined) return undefined;
  const withScheme = /^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
  return withScheme.replace(/\/+$/, '');
}
