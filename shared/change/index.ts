export * from './diff-snapshot';
export * from './prepare-records';
export * from './record-hash';
export * from './last-per-key';
export * from './pending-changes';
export * from './snapshot-differ';
export * from './unkeyed-records';
