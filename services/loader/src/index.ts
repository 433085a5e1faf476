export * from './app';
export * from './group-committer';
export * from './push-handler';
export * from './row-mapping';
