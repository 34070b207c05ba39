// RecentCompletions: retried CompleteMultipartUpload requests find the earlier result, for a while.
import { describe, expect, it } from "vitest";
import { RecentCompletions } from "../../src/engine/completions.js";
import type { ObjectInfo } from "../../src/store/types.js";

const info = (etag: string) => ({ etag }) as ObjectInfo;
const parts = [{ partNumber: 1, etag: "a" }, { partNumber: 2, etag: "b" }];

describe("RecentCompletions", () => {
  it("answers only the same bucket, key and parts", () => {
    const recent = new RecentCompletions();
    recent.remember("u1", "bkt", "k", parts, info("x-2"), 0);
    expect(recent.find("u1", "bkt", "k", parts, 1)?.etag).toBe("x-2");
    expect(recent.find("u1", "bkt", "other", parts, 1)).toBeUndefined();
    expect(recent.find("u1", "bkt", "k", parts.slice(0, 1), 1)).toBeUndefined();
    expect(recent.find("u2", "bkt", "k", parts, 1)).toBeUndefined();
  });

  it("forgets after its time and beyond its size, oldest first", () => {
    const recent = new RecentCompletions(1000, 2);
    recent.remember("u1", "b", "k", parts, info("1"), 0);
    expect(recent.find("u1", "b", "k", parts, 1001)).toBeUndefined();
    recent.remember("u2", "b", "k", parts, info("2"), 10);
    recent.remember("u3", "b", "k", parts, info("3"), 20);
    recent.remember("u4", "b", "k", parts, info("4"), 30);
    expect(["u2", "u3", "u4"].map((id) => recent.find(id, "b", "k", parts, 40)?.etag)).toEqual([undefined, "3", "4"]);
  });
});
