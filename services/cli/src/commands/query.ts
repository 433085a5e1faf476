import { access } from 'node:fs/promises';
import { openBackend } from '@changefeed/shared/backend';
import { createSilentLogger } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { errorMessage } from '@changefeed/shared/errors';
import { DEFAULT_USER_QUERY_TIMEOUT_MS } from '@changefeed/shared/adapters/local';
import { findControl, queryRunning } from '@changefeed/pipeline';
import { dataDirLayout } from '@changefeed/pipeline';
import { Exit, type CliIo, type ExitCode } from '../io';
import { renderRows } from '../render-rows';

export interface QueryFlags {
  readonly sql: string;
  readonly dataDir: string;
  readonly json: boolean;
  /** Interrupts the statement after this long; DEFAULT_USER_QUERY_TIMEOUT_MS when unset. */
  readonly timeoutMs?: number;
}

/**
 * `changefeed query "<sql>"`: asks the running changefeed when there is one (DuckDB lets a single
 * process hold the file), otherwise opens the warehouse read-only. Either way the SQL goes through
 * DuckDbWarehouse.userQuery: one statement that reads, no file access, a timeout.
 */
export async function queryCommand(flags: QueryFlags, io: CliIo): Promise<ExitCode> {
  if (flags.sql.trim() === '') {
    io.stderr.write('changefeed query: expected SQL, e.g. changefeed query "select * from carts_current limit 5"\n');
    return Exit.usage;
  }
  const layout = dataDirLayout(io.cwd, flags.dataDir);
  const timeoutMs = flags.timeoutMs ?? DEFAULT_USER_QUERY_TIMEOUT_MS;
  let rows: readonly Record<string, unknown>[];
  try {
    const running = await findControl(layout.dir);
    if (running !== undefined) {
      rows = await queryRunning(running, flags.sql, timeoutMs);
    } else {
      try {
        await access(layout.warehouseFile);
      } catch {
        io.stderr.write(
          `changefeed query: no warehouse at ${layout.warehouseFile}; run "npm start" or "changefeed run" first, or pass --data-dir\n`,
        );
        return Exit.failed;
      }
      const backend = await openBackend({
        config: undefined,
        env: io.env,
        clock: systemClock,
        logger: createSilentLogger(),
        dataDir: layout.dir,
      });
      try {
        rows = await (await backend.readOnlyWarehouse()).userQuery(flags.sql, { timeoutMs });
      } finally {
        await backend.close();
      }
    }
  } catch (e: unknown) {
    io.stderr.write(`changefeed query: ${errorMessage(e)}\n`);
    return Exit.failed;
  }
  io.stdout.write(renderRows(rows, flags.json));
  return Exit.ok;
}
