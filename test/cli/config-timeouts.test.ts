// The remote and local-tier timeouts: defaults, units, bounds, flags over env.
import { describe, expect, it } from "vitest";
import { ConfigError, loadServeConfig } from "../../src/config.js";

const remote = { S3_OVERLAY_REMOTE_ENDPOINT: "http://127.0.0.1:9000", S3_OVERLAY_REMOTE_BUCKETS: "*" };
const tier = { S3_OVERLAY_LOCAL_ENDPOINT: "http://127.0.0.1:9001" };

describe("S3_OVERLAY_REMOTE_TIMEOUT and S3_OVERLAY_LOCAL_TIMEOUT", () => {
  it("default to 30 s", () => {
    const config = loadServeConfig({}, { ...remote, ...tier });
    expect(config.remote?.timeoutMs).toBe(30_000);
    expect(config.localTier?.timeoutMs).toBe(30_000);
  });

  it("take durations, and the flag wins over the variable", () => {
    const env = { ...remote, ...tier, S3_OVERLAY_REMOTE_TIMEOUT: "2s", S3_OVERLAY_LOCAL_TIMEOUT: "1500ms" };
    expect(loadServeConfig({}, env).remote?.timeoutMs).toBe(2_000);
    expect(loadServeConfig({}, env).localTier?.timeoutMs).toBe(1_500);
    expect(loadServeConfig({ remoteTimeout: "1m", localTimeout: "5" }, env)).toMatchObject({ remote: { timeoutMs: 60_000 }, localTier: { timeoutMs: 5_000 } });
  });

  it("refuse 0 (wait for ever), tiny and huge values, naming the setting", () => {
    for (const value of ["0", "50ms", "2h", "soon"]) {
      expect(() => loadServeConfig({}, { ...remote, S3_OVERLAY_REMOTE_TIMEOUT: value })).toThrow(ConfigError);
      expect(() => loadServeConfig({}, { ...remote, S3_OVERLAY_REMOTE_TIMEOUT: value })).toThrow(/S3_OVERLAY_REMOTE_TIMEOUT/);
      expect(() => loadServeConfig({}, { ...tier, S3_OVERLAY_LOCAL_TIMEOUT: value })).toThrow(/S3_OVERLAY_LOCAL_TIMEOUT/);
    }
  });

  it("a timeout alone does not turn the remote on", () => {
    expect(loadServeConfig({}, { S3_OVERLAY_REMOTE_TIMEOUT: "5s" }).remote).toBeUndefined();
  });
});
