export type JsonRecord = Readonly<Record<string, unknown>>;

/** Where the batch job writes reference tables. */
export interface ReferenceLoader {
  /** Replaces the whole of `table` with `records` atomically: readers see the old or the new table, never a mix. */
  replaceTable(table: string, records: readonly JsonRecord[]): Promise<number>;
  /**
   * Upserts `records` into `table` by `keyField` (a dot path such as `data.id`): a record whose key
   * exists replaces that row, the rest are appended. Atomic. Returns the number of rows written.
   */
  mergeRecords(table: string, records: readonly JsonRecord[], keyField: string): Promise<number>;
}
