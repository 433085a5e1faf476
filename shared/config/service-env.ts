import { z } from 'zod';
import { ValidationError } from '../errors';
import { summarizeIssues, validationIssues } from '../errors/zod-issues';

/**
 * What a Cloud Run service or job reads from its environment; everything else is in the config
 * file. Parsed once, in main.ts, so a misconfigured revision fails at start-up with every problem
 * named instead of at the first request.
 */
const serviceEnvSchema = z.object({
  /** A path inside the container (a mounted volume) or a gs://bucket/object URL. */
  CHANGEFEED_CONFIG: z
    .string({ error: 'expected the config file location: a path, or gs://bucket/object' })
    .min(1, 'expected the config file location: a path, or gs://bucket/object'),
  /** Cloud Run sets it; 8080 is its documented default. */
  PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  /** Where the GCP clients look when the config's gcp.projectId is absent. */
  GOOGLE_CLOUD_PROJECT: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
});

export type ServiceEnv = z.output<typeof serviceEnvSchema>;

export function parseServiceEnv(env: Readonly<Record<string, string | undefined>>): ServiceEnv {
  const result = serviceEnvSchema.safeParse(env);
  if (result.success) return result.data;
  const issues = validationIssues(result.error);
  throw new ValidationError(`environment: ${summarizeIssues(issues, '(environment)')}`, issues);
}

/** True for `gs://bucket/object` config locations. */
export function isGcsUrl(location: string): boolean {
  return location.startsWith('gs://');
}
