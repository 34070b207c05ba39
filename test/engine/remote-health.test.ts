// Remote trouble is logged once per outage and kind, however its details vary.
import { afterEach, describe, expect, it, vi } from "vitest";
import { RemoteHealth } from "../../src/engine/remote-health.js";

function capture(): string[] {
  const lines: string[] = [];
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return lines;
}

afterEach(() => vi.restoreAllMocks());

describe("RemoteHealth", () => {
  it("logs an outage once although its details change from request to request", () => {
    const lines = capture();
    const health = new RemoteHealth("127.0.0.1:9000");
    const first = health.failure("remote S3 at 127.0.0.1:9000 is unreachable (ECONNRESET)");
    health.failure("remote S3 at 127.0.0.1:9000 is unreachable (ECONNREFUSED)");
    health.failure("remote S3 at 127.0.0.1:9000 is unreachable (ECONNREFUSED)");
    expect(first.code).toBe("ServiceUnavailable");
    expect(lines.filter((line) => / warn /.test(line))).toHaveLength(1);
    expect(health.lastProblem).toMatch(/ECONNREFUSED/);
  });

  it("logs a new kind of trouble, and the recovery, once each", () => {
    const lines = capture();
    const health = new RemoteHealth("remote");
    health.failure("remote S3 at remote is unreachable (ECONNREFUSED)");
    const denied = health.failure("remote S3 at remote denied access to b/k1 (AccessDenied)", "AccessDenied");
    health.failure("remote S3 at remote denied access to b/k2 (AccessDenied)", "AccessDenied");
    health.ok();
    health.ok();
    health.failure("remote S3 at remote is unreachable (ECONNREFUSED)");
    expect(denied.status).toBe(403);
    expect(lines.filter((line) => / warn /.test(line))).toHaveLength(3);
    expect(lines.filter((line) => /answers again/.test(line))).toHaveLength(1);
  });
});
