// The engine's unit tests run on MemoryStore: it must keep the same contract as the real drivers.
import { describe } from "vitest";
import { MemoryStore } from "../doubles/memory-store.js";
import { storeContract } from "./contract.js";

describe("store contract (in-memory test double)", () => {
  const store = new MemoryStore();
  let bucketCounter = 0;
  storeContract({ store: () => store, freshBucket: () => `contract-${++bucketCounter}` });
});
