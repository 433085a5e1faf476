import path from 'node:path';

/** The files of one local installation, all under one data directory. */
export interface DataDirLayout {
  readonly dir: string;
  /** Snapshot index, leases and batch cursors. */
  readonly stateFile: string;
  /** The local bus: pending messages and dead letters. */
  readonly busFile: string;
  /** The DuckDB warehouse. */
  readonly warehouseFile: string;
  /** JSON-lines log of the last runs. */
  readonly logFile: string;
  /** The bearer secret the local bus pushes to the loader with; written per start, 0600. */
  readonly pushSecretFile: string;
  /** Records too large for the bus, by SHA-256 (the claim check). */
  readonly payloadsDir: string;
}

export function dataDirLayout(cwd: string, dir: string): DataDirLayout {
  const abs = path.resolve(cwd, dir);
  return {
    dir: abs,
    stateFile: path.join(abs, 'state.sqlite'),
    busFile: path.join(abs, 'bus.sqlite'),
    warehouseFile: path.join(abs, 'warehouse.duckdb'),
    logFile: path.join(abs, 'changefeed.log'),
    pushSecretFile: path.join(abs, 'push.secret'),
    payloadsDir: path.join(abs, 'payloads'),
  };
}
