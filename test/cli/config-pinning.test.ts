// S3_OVERLAY_LOCK, S3_OVERLAY_LOCK_STRICT and S3_OVERLAY_REMOTE_AS_OF as users type them.
import { describe, expect, it } from "vitest";
import { ConfigError, loadServeConfig } from "../../src/config.js";

const remote = { S3_OVERLAY_REMOTE_BUCKETS: "fixtures" };

describe("pinning settings", () => {
  it("a lockfile path is made absolute; strict needs a lockfile", () => {
    expect(loadServeConfig({}, { ...remote, S3_OVERLAY_LOCK: "/tmp/x.lock" }).lock).toEqual({ file: "/tmp/x.lock", strict: false });
    expect(loadServeConfig({ lockStrict: true }, { ...remote, S3_OVERLAY_LOCK: "x.lock" }).lock).toEqual({ file: `${process.cwd()}/x.lock`, strict: true });
    expect(() => loadServeConfig({}, { ...remote, S3_OVERLAY_LOCK_STRICT: "true" })).toThrow(/S3_OVERLAY_LOCK_STRICT needs a lockfile/);
    expect(loadServeConfig({}, remote).lock).toBeUndefined();
  });

  it.each([
    ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"],
    ["2024-05-01T12:00:00.250+02:00", "2024-05-01T10:00:00.250Z"],
    ["2024-05-01T12:00", "2024-05-01T12:00:00.000Z"],
    ["2024-05-01", "2024-05-01T00:00:00.000Z"],
  ])("as-of %s is %s (no zone: UTC)", (value, iso) => {
    expect(loadServeConfig({}, { ...remote, S3_OVERLAY_REMOTE_AS_OF: value }).remoteAsOf?.toISOString()).toBe(iso);
  });

  it.each(["yesterday", "1714564800", "2024-13-01", "2024-05-01 12:00"])("as-of %j is refused naming the variable", (value) => {
    expect(() => loadServeConfig({}, { ...remote, S3_OVERLAY_REMOTE_AS_OF: value })).toThrow(ConfigError);
    expect(() => loadServeConfig({}, { ...remote, S3_OVERLAY_REMOTE_AS_OF: value })).toThrow(/S3_OVERLAY_REMOTE_AS_OF/);
  });
});
