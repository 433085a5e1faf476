/**
 * Where a batch source keeps its incremental watermark between runs: the one thing the batch
 * job needs of the poller's state store. Every `SnapshotStore` is one, so the same SQLite file
 * or Firestore collection serves both; a batch job takes only this half.
 */
export interface CursorStore {
  /** The watermark a run stored for `source`, if any run stored one. */
  getCursor(source: string): Promise<string | undefined>;
  /** Stores `cursor` as the watermark of `source`, replacing any earlier one. */
  setCursor(source: string, cursor: string): Promise<void>;
}
