// The cache commands' typed requests: flags and S3_OVERLAY_* variables parsed once
// in the CLI, and the same request accepted unchanged by a serve's admin API.
import { describe, expect, it } from "vitest";
import { changesRequest, evictRequest, scopeOf, statusRequest, verifyRequest, warmRequest } from "../../src/cli/requests.js";
import { ConfigError } from "../../src/config.js";
import { readAdminRequest, type AdminCommand } from "../../src/server/admin-requests.js";

describe("CLI requests", () => {
  it("a target is a bucket scope, with a prefix when it has one", () => {
    expect(scopeOf(undefined)).toEqual({});
    expect(scopeOf("data")).toEqual({ bucket: "data" });
    expect(scopeOf("data/a/b")).toEqual({ bucket: "data", prefix: "a/b" });
    expect(() => scopeOf("Not_A_Bucket/x")).toThrow(ConfigError);
  });

  it("warm reads its settings from the environment as well as from flags; a flag wins", () => {
    // before typed requests the environment was dropped on the way to the engine
    expect(warmRequest({ targets: ["data"] }, {}, { S3_OVERLAY_WARM_CONCURRENCY: "3" }).concurrency).toBe(3);
    expect(warmRequest({ targets: ["data"] }, { concurrency: "5" }, { S3_OVERLAY_WARM_CONCURRENCY: "3" }).concurrency).toBe(5);
    expect(warmRequest({ targets: ["data"] }, {}, { S3_OVERLAY_WARM_CHUNKS: "first" }).chunks).toEqual([{ kind: "index", from: 0, to: 0 }]);
    expect(warmRequest({ targets: ["data"] }, {}, {}).concurrency).toBe(8);
  });

  it("evict reads --older-than and --to-size from the environment too", () => {
    const request = evictRequest("data/logs", {}, { S3_OVERLAY_EVICT_OLDER_THAN: "2h", S3_OVERLAY_EVICT_TO_SIZE: "1KiB" });
    expect(request).toMatchObject({ scope: { bucket: "data", prefix: "logs" }, olderThanMs: 7_200_000, toSize: 1024, dryRun: false });
  });

  it("a manifest names objects; blank and # lines are skipped; a line without a key names itself", () => {
    const request = warmRequest({ targets: [], manifest: ["data/a.txt", "", "# comment", " data/dir/b "] }, {}, {});
    expect(request.keys).toEqual([{ bucket: "data", key: "a.txt" }, { bucket: "data", key: "dir/b" }]);
    expect(() => warmRequest({ targets: [], manifest: ["data/a", "data"] }, {}, {})).toThrow(/--manifest line 2/);
  });

  it("bad values are usage errors before any work", () => {
    expect(() => warmRequest({ targets: ["data"] }, { concurrency: "0" }, {})).toThrow(ConfigError);
    expect(() => warmRequest({ targets: ["data"] }, { chunks: "middle" }, {})).toThrow(ConfigError);
    expect(() => evictRequest(undefined, { olderThan: "soon" }, {})).toThrow(ConfigError);
  });

  const built: [AdminCommand, unknown][] = [
    ["status", statusRequest("data/p")],
    ["status", statusRequest(undefined)],
    ["evict", evictRequest("data", { olderThan: "7d", toSize: "10GiB", chunksOnly: true, tombstones: true, dryRun: true }, {})],
    ["evict", evictRequest(undefined, {}, {})],
    ["diff", changesRequest("data/x", {})],
    ["reset", changesRequest(undefined, { dryRun: true })],
    ["verify", verifyRequest("data", { repair: true })],
    ["warm", warmRequest({ targets: ["data", "logs/2026/"], manifest: ["data/k"], include: ["**/*.csv"], exclude: ["tmp/**"] }, { chunks: "first,-1,head:8MiB", concurrency: "16", dryRun: true }, {})],
    ["warm", warmRequest({ targets: ["data"] }, {}, {})],
  ];
  it.each(built)("the %s request the CLI builds passes the admin API's check unchanged", (command, request) => {
    expect(readAdminRequest(command, JSON.stringify(request))).toEqual(request);
  });
});
