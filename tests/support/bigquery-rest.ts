/** The project the BigQuery emulator tests use. */
export const BIGQUERY_PROJECT = 'changefeed-test';

/**
 * Runs SQL on the BigQuery emulator over its REST API (jobs.query), as any client would; values
 * come back as BigQuery's REST API gives them (strings).
 */
export async function bigqueryQuery(sql: string): Promise<unknown[][]> {
  const response = await fetch(
    `http://${process.env['BIGQUERY_EMULATOR_HOST'] ?? ''}/bigquery/v2/projects/${BIGQUERY_PROJECT}/queries`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: sql, useLegacySql: false }),
    },
  );
  const body = (await response.json()) as { rows?: { f: { v: unknown }[] }[]; error?: unknown };
  if (!response.ok) throw new Error(`BigQuery emulator answered ${response.status}: ${JSON.stringify(body.error)}`);
  return (body.rows ?? []).map((r) => r.f.map((c) => c.v));
}
