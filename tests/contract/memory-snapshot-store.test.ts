import { MemorySnapshotStore } from '../support/poller-fakes';
import { FakeClock, MemoryCursorStore } from '../support/source-fakes';
import { cursorStoreContract } from './cursor-store.contract';
import { snapshotStoreContract } from './snapshot-store.contract';

// The poller's and the batch job's unit tests stand on these fakes: they must keep the ports'
// promises like the real stores. A memory store's "same data" is the store itself.
snapshotStoreContract('MemorySnapshotStore (the unit tests’ fake)', (clock) => new MemorySnapshotStore(clock));

cursorStoreContract('MemorySnapshotStore (the unit tests’ fake)', () => {
  const store = new MemorySnapshotStore(new FakeClock());
  return { open: () => store, close: () => store.close() };
});

cursorStoreContract('MemoryCursorStore (the batch tests’ fake)', () => {
  const store = new MemoryCursorStore();
  return { open: () => store, close: () => Promise.resolve() };
});
