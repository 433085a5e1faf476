import path from 'node:path';
import type { ResourceReport } from '@changefeed/shared/adapters/gcp';
import { isConfigProblem, loadConfig, type Config } from '@changefeed/shared/config';
import { errorMessage } from '@changefeed/shared/errors';
import { Exit, type CliIo, type ExitCode } from '../io';

export interface GcpSetupFlags {
  readonly config: string;
  /** The dead-letter topic; absent: derived from gcp.pubsub.topic (see deadLetterTopicFor). */
  readonly deadLetterTopic?: string;
}

const NAME = 'changefeed gcp setup';

/**
 * `changefeed gcp setup --config F [--dead-letter-topic T]`: creates the Pub/Sub topics and
 * subscriptions and the BigQuery dataset that F names, where missing, on Google Cloud or on the
 * emulators the standard variables name. What exists is reported and left alone. Exit 0 when
 * everything exists afterwards (warnings included), 1 when a call failed, 2 for a config or a
 * name that cannot work.
 */
export async function gcpSetupCommand(flags: GcpSetupFlags, io: CliIo): Promise<ExitCode> {
  let config: Config;
  try {
    config = await loadConfig(path.resolve(io.cwd, flags.config));
  } catch (e: unknown) {
    io.stderr.write(`${errorMessage(e)}\n`);
    return isConfigProblem(e) ? Exit.usage : Exit.failed;
  }
  if (config.backend !== 'gcp') {
    io.stderr.write(
      `${NAME}: creates the Google Cloud resources of a backend: gcp config; ${flags.config} says backend: ${config.backend}\n`,
    );
    return Exit.usage;
  }
  // Loaded only here: the Google Cloud clients take most of a second to load.
  const gcp = await import('@changefeed/shared/adapters/gcp');
  let projectId: string;
  let plan: ReturnType<typeof gcp.pubSubResourcePlan>;
  try {
    projectId = gcp.resolveProjectId(config, io.env);
    plan = gcp.pubSubResourcePlan(config, projectId, {
      deadLetterTopic: flags.deadLetterTopic,
      deadLetterTopicSetting: '--dead-letter-topic',
      configFile: flags.config,
    });
  } catch (e: unknown) {
    io.stderr.write(`${NAME}: ${errorMessage(e)}\n`);
    return isConfigProblem(e) ? Exit.usage : Exit.failed;
  }
  const emulators = ['PUBSUB_EMULATOR_HOST', 'BIGQUERY_EMULATOR_HOST']
    .filter((v) => (io.env[v] ?? '') !== '')
    .map((v) => `${v}=${io.env[v] ?? ''}`);
  io.stdout.write(
    `setting up GCP project ${projectId}${emulators.length === 0 ? '' : ` on the emulators (${emulators.join(', ')})`}\n`,
  );
  let reports: ResourceReport[];
  try {
    reports = await gcp.setUpGcpResources(config, projectId, plan, io.env);
  } catch (e: unknown) {
    io.stderr.write(`${NAME}: ${errorMessage(e)}\n`);
    return Exit.failed;
  }
  io.stdout.write(formatReports(reports));
  const count = (status: ResourceReport['status']): number => reports.filter((r) => r.status === status).length;
  const warnings = reports.reduce((n, r) => n + r.warnings.length, 0);
  io.stdout.write(
    `done: ${count('created')} created, ${count('exists')} already existed` +
      `${count('skipped') === 0 ? '' : `, ${count('skipped')} skipped`}` +
      `${warnings === 0 ? '' : `; ${warnings} warning${warnings === 1 ? '' : 's'} (existing resources are left as they are)`}\n` +
      (config.loader.delivery === 'pull' ? `next: changefeed run --config ${flags.config}\n` : ''),
  );
  return Exit.ok;
}

/** `created  events topic  projects/p/topics/t`, then the resource's notes and warnings under it. */
function formatReports(reports: readonly ResourceReport[]): string {
  const statusWidth = Math.max(...reports.map((r) => r.status.length));
  const roleWidth = Math.max(...reports.map((r) => r.role.length));
  const indent = ' '.repeat(statusWidth + 2);
  return reports
    .map((r) =>
      [
        `${r.status.padEnd(statusWidth)}  ${r.role.padEnd(roleWidth)}  ${r.name}`,
        ...r.notes.map((n) => `${indent}note: ${n}`),
        ...r.warnings.map((w) => `${indent}warning: ${w}`),
      ].join('\n'),
    )
    .map((block) => `${block}\n`)
    .join('');
}
