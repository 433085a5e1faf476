import { access } from 'node:fs/promises';
import { openBackend } from '@changefeed/shared/backend';
import { createSilentLogger } from '@changefeed/shared/log';
import { systemClock } from '@changefeed/shared/ports';
import { errorMessage } from '@changefeed/shared/errors';
import { findControl, queryRunning } from '@changefeed/pipeline';
import { dataDirLayout } from '@changefeed/pipeline';
import { Exit, type CliIo, type ExitCode } from '../io';
import { renderRows } from '../render-rows';

export interface QueryFlags {
  readonly sql: string;
  readonly dataDir: string;
  readonly json: boolean;
}

/**
 * `changefeed query "<sql>"`: asks the running changefeed when there is one (DuckDB lets a single
 * process hold the file), otherwise opens the warehouse read-only.
 */
export async function queryCommand(flags: QueryFlags, io: CliIo): Promise<ExitCode> {
  if (flags.sql.trim() === '') {
    io.stderr.write('changefeed query: expected SQL, e.g. changefeed query "select * from carts_current limit 5"\n');
    return Exit.usage;
  }
  const layout = dataDirLayout(io.cwd, flags.dataDir);
  let rows: readonly Record<string, unknown>[];
  try {
    const running = await findControl(layout.dir);
    if (running !== undefined) {
      rows = await queryRunning(running, flags.sql);
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
        rows = await (await backend.readOnlyWarehouse()).query(flags.sql);
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
