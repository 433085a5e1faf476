import type { BigQuery } from '@google-cloud/bigquery';
import { bigQueryError, describeFailure } from './bigquery-errors';
import type { ResourceReport } from './resource-report';

/**
 * Creates the warehouse's dataset in `location` unless it exists (the warehouse would create it
 * on its first append anyway; setup makes it exist, in the right place, before anything runs). An
 * existing dataset is left alone, with a warning if it lives elsewhere: a dataset's location
 * cannot be changed, and jobs run where the config says.
 * https://cloud.google.com/bigquery/docs/datasets#create-dataset
 */
export async function ensureDataset(
  bigquery: BigQuery,
  target: { readonly projectId: string; readonly dataset: string; readonly location: string },
): Promise<ResourceReport> {
  const report = {
    kind: 'dataset',
    role: 'BigQuery dataset',
    name: `${target.projectId}.${target.dataset}`,
    notes: [],
  } as const;
  const dataset = bigquery.dataset(target.dataset, { projectId: target.projectId });
  try {
    const [exists] = await dataset.exists();
    if (!exists) {
      try {
        await dataset.create({ location: target.location });
        return { ...report, status: 'created', warnings: [] };
      } catch (e: unknown) {
        const failure = describeFailure(e, 'rest');
        if (failure.status !== 'duplicate' && failure.status !== 'HTTP 409') throw e;
      }
    }
    const [metadata] = (await dataset.getMetadata()) as [{ location?: string }, unknown];
    const location = metadata.location;
    const warnings =
      location === undefined || location.toLowerCase() === target.location.toLowerCase()
        ? []
        : [`it is in ${location}, the config says gcp.bigquery.location: ${target.location}`];
    return { ...report, status: 'exists', warnings };
  } catch (e: unknown) {
    throw bigQueryError('BIGQUERY_SETUP.FAILED', `setting up dataset ${report.name}`, e, 'rest');
  }
}
