import type { Config } from '../config';
import { AppError } from '../errors';
import type { Backend, BackendContext, GcpBackend, LocalBackend } from './backend';

/**
 * Each backend by its `backend:` name. Loaded on first use: the Google Cloud clients take most of
 * a second to import, and local mode needs none of them (nor gcp mode DuckDB). A new backend is
 * one file and one line here.
 */
const BACKENDS: Readonly<Record<Config['backend'], (context: BackendContext) => Promise<Backend>>> = {
  local: async (context) => (await import('@changefeed/shared/backend/local')).openLocalBackend(context),
  gcp: async (context) => (await import('@changefeed/shared/backend/gcp')).openGcpBackend(context),
};

/**
 * The one place that turns `backend:` into adapters. Opens nothing yet: each port is opened on
 * first use, so an entry point pays only for what it asks for. Fails when the gcp backend has no
 * project, or a Pub/Sub name is malformed (a `CONFIG.*` AppError or a ValidationError).
 */
export function openBackend(context: BackendContext & { readonly config: undefined }): Promise<LocalBackend>;
export function openBackend(context: BackendContext): Promise<Backend>;
export function openBackend(context: BackendContext): Promise<Backend> {
  return BACKENDS[context.config?.backend ?? 'local'](context);
}

/**
 * The Cloud Run entry points run one service each, against Google Cloud; the local backend runs
 * the whole pipeline in one process instead (DuckDB has a single writer), so a service started
 * on it stops here with what to run.
 */
export async function openServiceBackend(
  context: BackendContext & { readonly config: Config },
  service: string,
  configFile: string,
): Promise<GcpBackend> {
  const backend = context.config.backend === 'gcp' ? await openBackend(context) : undefined;
  if (backend?.name === 'gcp') return backend;
  throw new AppError(
    'CONFIG.BACKEND',
    `the ${service} service runs with backend: gcp; ${configFile} says backend: ${context.config.backend}, which runs ` +
      'every service in one process: use changefeed run --config on it instead',
  );
}
