import Database from 'better-sqlite3';
import { AppError, errorMessage } from '../../errors';
import { assertLeaseHeld, positiveTtl } from '../lease-rules';
import {
  decodePendingRecord,
  encodePendingRecord,
  lastPendingPerEntity,
  mergePendingRecords,
  versionsById,
  withoutCovered,
} from '../pending-rules';
import {
  systemClock,
  type Clock,
  type Lease,
  type PendingUpdate,
  type SnapshotEntry,
  type SnapshotState,
  type SnapshotStore,
  type SnapshotUpdate,
} from '../../ports';

export interface SqliteSnapshotStoreOptions {
  /** Decides when leases expire; injected so tests can move time. */
  readonly clock?: Clock;
  /** How long a statement waits for another connection's write lock before failing with SQLITE_BUSY. */
  readonly busyTimeoutMs?: number;
}

/**
 * Long enough to ride out another process's commit of a large snapshot, short enough that a
 * stuck writer surfaces as a (retryable) error within one poll interval.
 */
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/**
 * Bumped with every schema change; `open` refuses files from a newer version. Version 2 added
 * `pending`: `open` creates it in a version-1 file, whose other tables are unchanged.
 */
const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  source    TEXT    NOT NULL,
  entity_id TEXT    NOT NULL,
  hash      TEXT    NOT NULL,
  version   INTEGER NOT NULL,
  deleted   INTEGER NOT NULL,
  PRIMARY KEY (source, entity_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources (
  source      TEXT    NOT NULL PRIMARY KEY,
  initialized INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
  source     TEXT    NOT NULL PRIMARY KEY,
  holder     TEXT    NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
  source TEXT NOT NULL PRIMARY KEY,
  cursor TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
  id      INTEGER PRIMARY KEY,
  source  TEXT    NOT NULL,
  entries TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_source ON pending (source);
`;

type EntryRow = [entityId: string, hash: string, version: number, deleted: number];

interface PendingRow {
  readonly id: number;
  readonly entries: string;
}

interface LeaseRow {
  readonly holder: string;
  readonly expires_at: number;
}

/**
 * The poller's snapshot in a local SQLite file: one row per entity (tombstones included), the
 * per-source "initialized" flag, the lease that lets one poller own a source, the batch cursors,
 * and one `pending` row per recorded publish group (its entries as one JSON array, so recording a
 * group costs one row write; a source has at most a few such rows). Entries are keyed
 * (source, entity_id) in a WITHOUT ROWID table, so a source's entries sit together in the
 * primary-key b-tree and `load` is one range scan.
 * https://www.sqlite.org/withoutrowid.html
 */
export class SqliteSnapshotStore implements SnapshotStore {
  private readonly statements: ReturnType<typeof prepareStatements>;

  private constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly clock: Clock,
  ) {
    this.statements = prepareStatements(db, file);
  }

  /** Opens or creates the store; the file's directory must exist. `':memory:'` gives a private store. */
  static open(file: string, options: SqliteSnapshotStoreOptions = {}): SqliteSnapshotStore {
    let db: Database.Database | undefined;
    try {
      db = new Database(file);
      // WAL lets readers (e.g. `changefeed` tools) read while the poller writes.
      db.pragma('journal_mode = WAL');
      // In WAL mode NORMAL syncs at checkpoints, not at every commit: a power cut (not a process
      // crash) may lose the last commits. That costs no events: the poller re-detects the same
      // changes, re-emits the same event ids, and the warehouse drops the duplicates.
      // https://www.sqlite.org/pragma.html#pragma_synchronous
      db.pragma('synchronous = NORMAL');
      db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`);
      migrate(db, file);
      return new SqliteSnapshotStore(db, file, options.clock ?? systemClock);
    } catch (e: unknown) {
      db?.close();
      if (e instanceof AppError) throw e;
      throw snapshotError('SNAPSHOT.OPEN_FAILED', `opening "${file}"`, e);
    }
  }

  load(source: string): Promise<SnapshotState> {
    return this.run(`loading "${source}"`, () => this.statements.load.deferred(source));
  }

  /** One IMMEDIATE transaction, like `commit`: the lease check, the new row, and the older rows it supersedes. */
  recordPending(lease: Lease, pending: readonly PendingUpdate[]): Promise<void> {
    return this.run(`recording ${pending.length} pending entries of "${lease.source}"`, () =>
      this.statements.recordPending.immediate(lease, pending, this.clock.now().getTime()),
    );
  }

  /**
   * Checks the lease and writes in one IMMEDIATE transaction: the write lock is taken before the
   * check, so no other poller can take the lease between the check and the writes.
   */
  commit(lease: Lease, updates: readonly SnapshotUpdate[]): Promise<void> {
    return this.run(`committing ${updates.length} entries of "${lease.source}"`, () =>
      this.statements.commit.immediate(lease, updates, this.clock.now().getTime()),
    );
  }

  acquireLease(source: string, holder: string, ttlMs: number): Promise<Lease | null> {
    return this.run(`acquiring the lease of "${source}"`, () => {
      const nowMs = this.clock.now().getTime();
      const expiresAtMs = nowMs + positiveTtl(ttlMs);
      const { changes } = this.statements.acquire.run(source, holder, expiresAtMs, nowMs);
      return changes === 1 ? { source, holder, expiresAt: new Date(expiresAtMs) } : null;
    });
  }

  /** Succeeds while the lease row still names this holder, even past expiry if nobody took it. */
  renewLease(lease: Lease, ttlMs: number): Promise<Lease | null> {
    return this.run(`renewing the lease of "${lease.source}"`, () => {
      const expiresAtMs = this.clock.now().getTime() + positiveTtl(ttlMs);
      const { changes } = this.statements.renew.run(expiresAtMs, lease.source, lease.holder);
      return changes === 1 ? { ...lease, expiresAt: new Date(expiresAtMs) } : null;
    });
  }

  /** Frees the source for other holders; a lease that has meanwhile passed to another holder is left alone. */
  releaseLease(lease: Lease): Promise<void> {
    return this.run(`releasing the lease of "${lease.source}"`, () => {
      this.statements.release.run(lease.source, lease.holder);
    });
  }

  getCursor(source: string): Promise<string | undefined> {
    return this.run(`reading the cursor of "${source}"`, () => this.statements.getCursor.get(source));
  }

  setCursor(source: string, cursor: string): Promise<void> {
    return this.run(`storing the cursor of "${source}"`, () => {
      this.statements.setCursor.run(source, cursor);
    });
  }

  /** Idempotent. */
  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }

  /** better-sqlite3 is synchronous; this gives the port's promise shape and maps the errors. */
  private run<T>(what: string, work: () => T): Promise<T> {
    if (!this.db.open) {
      return Promise.reject(
        new AppError('SNAPSHOT.CLOSED', `Snapshot store: ${what}: "${this.file}" is closed`, { retryable: false }),
      );
    }
    try {
      return Promise.resolve(work());
    } catch (e: unknown) {
      return Promise.reject(snapshotError('SNAPSHOT.WRITE_FAILED', what, e));
    }
  }
}

function migrate(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new AppError(
      'SNAPSHOT.SCHEMA_TOO_NEW',
      `The snapshot store "${file}" has schema version ${version}; this changefeed knows up to ${SCHEMA_VERSION}. Upgrade changefeed.`,
      { retryable: false },
    );
  }
  db.transaction(() => {
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

function prepareStatements(db: Database.Database, file: string) {
  const entries = db
    .prepare<[string], EntryRow>('SELECT entity_id, hash, version, deleted FROM entries WHERE source = ?')
    .raw();
  const initialized = db.prepare<[string], number>('SELECT initialized FROM sources WHERE source = ?').pluck();
  const leaseOf = db.prepare<[string], LeaseRow>('SELECT holder, expires_at FROM leases WHERE source = ?');
  const upsertEntry = db.prepare<[string, string, string, number, number]>(
    `INSERT INTO entries (source, entity_id, hash, version, deleted) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (source, entity_id) DO UPDATE SET hash = excluded.hash, version = excluded.version, deleted = excluded.deleted`,
  );
  const markInitialized = db.prepare<[string]>(
    'INSERT INTO sources (source, initialized) VALUES (?, 1) ON CONFLICT (source) DO UPDATE SET initialized = 1',
  );
  const pendingOf = db.prepare<[string], PendingRow>('SELECT id, entries FROM pending WHERE source = ? ORDER BY id');
  const insertPending = db.prepare<[string, string]>('INSERT INTO pending (source, entries) VALUES (?, ?)');
  const updatePending = db.prepare<[string, number]>('UPDATE pending SET entries = ? WHERE id = ?');
  const deletePending = db.prepare<[number]>('DELETE FROM pending WHERE id = ?');
  const readPending = (source: string): { id: number; entries: PendingUpdate[] }[] =>
    pendingOf
      .all(source)
      .map((row) => ({ id: row.id, entries: decodePendingRecord(row.entries, `"${file}" (pending row ${row.id})`) }));
  /** Removes from the source's pending rows what `covering` makes obsolete; rows left empty go. */
  const prunePending = (source: string, covering: () => ReadonlyMap<string, number>): void => {
    const rows = readPending(source);
    if (rows.length === 0) return;
    const versions = covering();
    for (const row of rows) {
      const kept = withoutCovered(row.entries, versions);
      if (kept === undefined) continue;
      if (kept.length === 0) deletePending.run(row.id);
      else updatePending.run(encodePendingRecord(kept), row.id);
    }
  };
  const checkLease = (lease: Lease, nowMs: number): void => {
    const current = leaseOf.get(lease.source);
    assertLeaseHeld(
      lease,
      current === undefined ? undefined : { holder: current.holder, expiresAtMs: current.expires_at },
      nowMs,
    );
  };
  return {
    // One read transaction, so the flag and the entries come from the same commit.
    load: db.transaction((source: string): SnapshotState => {
      const map = new Map<string, SnapshotEntry>();
      // Raw arrays: no per-row object with named keys, which matters at 100k+ entries.
      for (const [entityId, hash, version, deleted] of entries.iterate(source)) {
        map.set(entityId, { hash, version, deleted: deleted !== 0 });
      }
      const pending = mergePendingRecords(readPending(source).map((row) => row.entries));
      return { initialized: initialized.get(source) === 1, entries: map, pending };
    }),
    recordPending: db.transaction((lease: Lease, pending: readonly PendingUpdate[], nowMs: number): void => {
      checkLease(lease, nowMs);
      if (pending.length === 0) return;
      const entries = lastPendingPerEntity(pending);
      // A newer entry of the same entity makes the older one obsolete: without this, a bus that
      // refuses every group would leave one more row per group and cycle until it recovers.
      prunePending(lease.source, () => versionsById(entries));
      insertPending.run(lease.source, encodePendingRecord(entries));
    }),
    commit: db.transaction((lease: Lease, updates: readonly SnapshotUpdate[], nowMs: number): void => {
      checkLease(lease, nowMs);
      for (const u of updates) upsertEntry.run(lease.source, u.entityId, u.hash, u.version, u.deleted ? 1 : 0);
      markInitialized.run(lease.source);
      prunePending(lease.source, () => versionsById(updates));
    }),
    // One statement decides and writes: the lease is taken when free, expired or already ours.
    acquire: db.prepare<[string, string, number, number]>(
      `INSERT INTO leases (source, holder, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (source) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
    ),
    renew: db.prepare<[number, string, string]>('UPDATE leases SET expires_at = ? WHERE source = ? AND holder = ?'),
    release: db.prepare<[string, string]>('DELETE FROM leases WHERE source = ? AND holder = ?'),
    getCursor: db.prepare<[string], string>('SELECT cursor FROM cursors WHERE source = ?').pluck(),
    setCursor: db.prepare<[string, string]>(
      'INSERT INTO cursors (source, cursor) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor',
    ),
  };
}

/**
 * SQLite result codes that may clear on their own: another writer holding the lock, a full or
 * failing disk, memory pressure. Everything else (constraint, corrupt file, values that do not
 * bind) fails the same way on every retry.
 * https://www.sqlite.org/rescode.html
 */
const TRANSIENT_SQLITE_CODES = [
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_NOMEM',
  'SQLITE_INTERRUPT',
  'SQLITE_PROTOCOL',
  'SQLITE_CANTOPEN',
];

function snapshotError(code: string, what: string, e: unknown): AppError {
  if (e instanceof AppError) return e;
  const sqliteCode = e instanceof Database.SqliteError ? e.code : undefined;
  // Extended codes such as SQLITE_BUSY_SNAPSHOT or SQLITE_IOERR_WRITE share their primary's fate.
  const retryable = sqliteCode !== undefined && TRANSIENT_SQLITE_CODES.some((c) => sqliteCode.startsWith(c));
  return new AppError(code, `Snapshot store: ${what} failed: ${errorMessage(e)}`, {
    retryable,
    cause: e,
    details: { sqliteCode: sqliteCode ?? null },
  });
}
