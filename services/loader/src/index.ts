export * from './group-committer';
export * from './row-mapping';
