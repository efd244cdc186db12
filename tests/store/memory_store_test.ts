/**
 * {@linkcode MemoryStore} against the shared store suite.
 *
 * @module
 */

import { MemoryStore } from "../../broker/store/memory_store.ts";
import { storeConformance } from "./_conformance.ts";

storeConformance("MemoryStore", () => ({
  open: () => new MemoryStore(),
  // A store opened on the same data sees only what was committed.
  crash: (store) => {
    (store as MemoryStore).discard();
    return new MemoryStore((store as MemoryStore).data);
  },
  reopen: (store) => {
    store.close();
    return new MemoryStore((store as MemoryStore).data);
  },
  cleanup: () => {},
}));
