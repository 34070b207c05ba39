// The cache bucket's key codec (src/store/s3/cache-keys.ts): what is written into a
// tier key must come back out unchanged, whatever the object key, ETag or checksum.
import { describe, expect, it } from "vitest";
import {
  absentKey, bucketPrefixes, checksumFromHeader, checksumHeaderValue, chunkFromTierKey, chunkOwnerHash, chunkPrefix, chunkTierKey, chunkVersionPrefix, fitsTier,
  hashKey, parsePartMarker, partDir, partMarkerKey, partsPrefix, storableKey, tombstoneKey, tombstonePrefix, uploadMarker,
} from "../../src/store/s3/cache-keys.js";
import type { Checksum, ChunkKey } from "../../src/store/types.js";

const awkwardKeys = [
  "plain.txt",
  "a/b/c/d.txt",
  "/leading/and/trailing/",
  "//double//slashes//",
  "../dot/./segments/..",
  "ünïcödé/日本語/😀.bin",
  "percent%2Fencoded%20and+plus&amp;?#",
  "x".repeat(1024),
  "é".repeat(600),
  " ",
];
const awkwardEtags = ["d41d8cd98f00b204e9800998ecf8427e", "abc-12", 'quoted"etag/with/slash', "ü/😀", ""];

describe("cache-bucket key codec", () => {
  it("chunk keys round-trip every field, whatever the object key and ETag; checksums round-trip through their header", () => {
    for (const key of awkwardKeys) {
      for (const etag of awkwardEtags) {
        const chunk: ChunkKey = { bucket: "bkt", key, etag, chunkSize: 8 * 1024 * 1024, index: 123 };
        const tierKey = chunkTierKey(chunk);
        expect(tierKey.startsWith(chunkVersionPrefix("bkt", key, etag))).toBe(true);
        expect(tierKey.startsWith(chunkPrefix("bkt", key))).toBe(true);
        // six segments, whatever "/" the key or ETag hold
        expect(tierKey.split("/")).toHaveLength(6);
        expect(chunkOwnerHash(tierKey)).toBe(hashKey(key));
        expect(fitsTier(tierKey)).toBe(true);
        expect(chunkFromTierKey("bkt", key, tierKey)).toEqual(chunk);
        // the earlier layout (checksum as a seventh segment) is not read as a chunk
        expect(chunkFromTierKey("bkt", key, `${tierKey}/AAAAAA`)).toBeUndefined();
      }
    }
    for (const crc32 of ["AAAAAA==", "1048576:z/+Q9w==", "not base64 / ü"]) {
      const value = checksumHeaderValue(crc32);
      expect(value).toMatch(/^[A-Za-z0-9_-]*$/);
      expect(checksumFromHeader(value)).toBe(crc32);
    }
  });

  it("chunk indexes and sizes are padded so the tier lists them in numeric order", () => {
    const base = { bucket: "b", key: "k", etag: "e", chunkSize: 1 };
    const keys = [0, 1, 9, 10, 100, 12_345_678].map((index) => chunkTierKey({ ...base, index }));
    expect([...keys].sort()).toEqual(keys);
    const sizes = [1, 1024, 1024 ** 3].map((chunkSize) => chunkTierKey({ ...base, chunkSize, index: 0 }));
    expect([...sizes].sort()).toEqual(sizes);
  });

  it("chunks of different keys, versions or buckets never share a prefix", () => {
    expect(chunkPrefix("b", "a")).not.toBe(chunkPrefix("b", "a/"));
    expect(chunkPrefix("b", "k").startsWith(chunkPrefix("b2", "k"))).toBe(false);
    expect(chunkVersionPrefix("b", "k", "e1").startsWith(chunkVersionPrefix("b", "k", "e"))).toBe(false);
  });

  it("part markers round-trip the part number, ETag and checksum", () => {
    const checksums: (Checksum | undefined)[] = [
      undefined,
      { algorithm: "CRC32", type: "FULL_OBJECT", value: "AAAAAA==" } as Checksum,
      { algorithm: "SHA256", type: "COMPOSITE", value: "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=" } as Checksum,
    ];
    for (const uploadId of ["2~abc", "a/b+c=", "ü".repeat(300)]) {
      for (const etag of awkwardEtags) {
        for (const checksum of checksums) {
          for (const partNumber of [1, 42, 10_000]) {
            const tierKey = partMarkerKey(uploadId, partNumber, etag, checksum);
            expect(tierKey.startsWith(partDir(uploadId, partNumber))).toBe(true);
            expect(tierKey.startsWith(partsPrefix(uploadId))).toBe(true);
            const expected = checksum === undefined ? { partNumber, etag } : { partNumber, etag, checksum };
            expect(parsePartMarker(uploadId, tierKey)).toEqual(expected);
          }
        }
      }
    }
  });

  it("an upload's marker is its hashed id, and its part markers sit under it", () => {
    expect(uploadMarker("x")).toBe(`uploads/${hashKey("x")}`);
    expect(partsPrefix("x")).toBe(`${uploadMarker("x")}/`);
    expect(uploadMarker("x")).not.toBe(uploadMarker("y"));
    expect([partDir("x", 2), partDir("x", 10), partDir("x", 10_000)]).toEqual([partDir("x", 2), partDir("x", 10), partDir("x", 10_000)].sort());
  });

  it("tombstones keep the key verbatim; absent markers hash it so any key fits", () => {
    for (const key of awkwardKeys) {
      expect(tombstoneKey("bkt", key).slice(tombstonePrefix("bkt").length)).toBe(key);
      expect(absentKey("bkt", key)).toBe(`absent/bkt/${hashKey(key)}`);
      expect(fitsTier(absentKey("bkt", key))).toBe(true);
    }
    expect(fitsTier(tombstoneKey("bkt", "x".repeat(1024)))).toBe(false);
    expect(fitsTier(tombstoneKey("bkt", "x".repeat(1024 - "tombstones/bkt/".length)))).toBe(true);
    // the limit is in UTF-8 bytes, not characters
    expect(fitsTier("é".repeat(512))).toBe(true);
    expect(fitsTier("é".repeat(513))).toBe(false);
  });

  it("a bucket's prefixes cover its tombstones, absent markers and chunks, and no other bucket's", () => {
    const prefixes = bucketPrefixes("bkt");
    for (const tierKey of [tombstoneKey("bkt", "k"), absentKey("bkt", "k"), chunkTierKey({ bucket: "bkt", key: "k", etag: "e", chunkSize: 1, index: 0 })]) {
      expect(prefixes.some((prefix) => tierKey.startsWith(prefix))).toBe(true);
    }
    expect(prefixes.some((prefix) => tombstoneKey("bkt2", "k").startsWith(prefix))).toBe(false);
    expect(prefixes.some((prefix) => uploadMarker("u").startsWith(prefix))).toBe(false);
  });

  it("only keys with NUL are unstorable", () => {
    expect(storableKey("a\u0000b")).toBe(false);
    for (const key of awkwardKeys) expect(storableKey(key)).toBe(true);
  });
});
