import { MemorySnapshotStore } from '../support/poller-fakes';
import { snapshotStoreContract } from './snapshot-store.contract';

// The poller's unit tests stand on this fake: it must keep the port's promises like the real stores.
snapshotStoreContract('MemorySnapshotStore (the unit tests’ fake)', (clock) => new MemorySnapshotStore(clock));
