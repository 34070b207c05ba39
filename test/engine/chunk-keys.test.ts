// The chunk arithmetic every chunked read and fill relies on: which chunks a range
// touches and which part of each, checked at the chunk boundaries where an
// off-by-one would read a wrong byte or skip one.
import { describe, expect, it } from "vitest";
import { chunkId, chunkKey, first, last, versionOf, withinChunk } from "../../src/engine/chunk-keys.js";
import type { ObjectInfo } from "../../src/store/types.js";

const info = { bucket: "b", key: "k", etag: "e", size: 35, chunkSize: 10 } as ObjectInfo;

describe("chunk keys and ranges", () => {
  it("finds the first and last chunk of a range at and around the boundaries", () => {
    expect([first({ start: 0, end: 9 }, info), last({ start: 0, end: 9 }, info)]).toEqual([0, 0]);
    expect([first({ start: 9, end: 10 }, info), last({ start: 9, end: 10 }, info)]).toEqual([0, 1]);
    expect([first({ start: 10, end: 34 }, info), last({ start: 10, end: 34 }, info)]).toEqual([1, 3]);
  });

  it("gives each chunk's part of a range as offsets in that chunk", () => {
    const range = { start: 7, end: 31 };
    const parts = [0, 1, 2, 3].map((index) => withinChunk(info, index, range));
    expect(parts).toEqual([{ start: 7, end: 9 }, { start: 0, end: 9 }, { start: 0, end: 9 }, { start: 0, end: 1 }]);
    // the parts cover the range exactly once
    expect(parts.reduce((sum, part) => sum + part.end - part.start + 1, 0)).toBe(range.end - range.start + 1);
  });

  it("names a chunk by its version and index; another version or index is another chunk", () => {
    expect(chunkKey(info, 2)).toEqual({ ...versionOf(info), index: 2 });
    expect(versionOf(info)).toEqual({ bucket: "b", key: "k", etag: "e", chunkSize: 10 });
    const ids = new Set([chunkId(chunkKey(info, 2)), chunkId(chunkKey(info, 3)), chunkId(chunkKey({ ...info, etag: "f" }, 2)), chunkId(chunkKey({ ...info, chunkSize: 20 }, 2))]);
    expect(ids.size).toBe(4);
  });
});
