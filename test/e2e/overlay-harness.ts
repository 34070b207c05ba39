// A remote for overlay tests: a real Ceph RGW behind a counting TCP proxy, and
// an SDK client that writes to it directly (the overlay itself never writes there).
import { createHash } from "node:crypto";
import { PutObjectCommand, CreateBucketCommand, S3Client, type PutObjectCommandInput } from "@aws-sdk/client-s3";
import { rgwAvailable, startRgw, type RgwServer } from "../servers/rgw.js";
import { startTcpProxy, type TcpProxy } from "../servers/tcp-proxy.js";
import { startServer, type RunningServer, type StartOptions } from "./harness.js";

export interface RemoteFixture {
  rgw: RgwServer;
  proxy: TcpProxy;
  /** writes straight to RGW (test setup only) */
  direct: S3Client;
  /** S3_OVERLAY_REMOTE_* settings pointing at the proxy */
  env: Record<string, string>;
  put(bucket: string, key: string, body: Buffer | string, extra?: Partial<PutObjectCommandInput>): Promise<void>;
  stop(): Promise<void>;
}

/** Skip (locally) or fail (in CI) when RGW cannot run here: CI must test against a real remote. */
export function requireRgw(): string | undefined {
  const available = rgwAvailable();
  if (available.ok) return undefined;
  if (process.env.CI) throw new Error(`Ceph RGW is required in CI: ${available.reason}`);
  return available.reason;
}

export async function startRemote(): Promise<RemoteFixture> {
  const rgw = await startRgw({ accessKeyId: "remote", secretAccessKey: "remotesecret" });
  const port = Number(new URL(rgw.endpoint).port);
  const proxy = await startTcpProxy("127.0.0.1", port);
  const direct = new S3Client({
    endpoint: rgw.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    // RGW 16 answers 411 to aws-chunked uploads without a length
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
  const created = new Set<string>();
  return {
    rgw,
    proxy,
    direct,
    env: {
      S3_OVERLAY_REMOTE_ENDPOINT: `http://127.0.0.1:${proxy.port}`,
      S3_OVERLAY_REMOTE_REGION: "us-east-1",
      S3_OVERLAY_REMOTE_ADDRESSING_STYLE: "path",
      S3_OVERLAY_REMOTE_ACCESS_KEY_ID: rgw.accessKeyId,
      S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: rgw.secretAccessKey,
      // the suites read remote buckets under their own names
      S3_OVERLAY_REMOTE_BUCKETS: "*",
    },
    async put(bucket, key, body, extra = {}) {
      if (!created.has(bucket)) {
        await direct.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: Error) => {
          if (error.name !== "BucketAlreadyOwnedByYou" && error.name !== "BucketAlreadyExists") throw error;
        });
        created.add(bucket);
      }
      await direct.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...extra }));
    },
    async stop() {
      direct.destroy();
      await proxy.close();
      await rgw.stop();
    },
  };
}

export function startOverlay(remote: RemoteFixture, options: StartOptions = {}): Promise<RunningServer> {
  return startServer({ ...options, env: { ...remote.env, ...options.env } });
}

export function md5(data: Buffer): string {
  return createHash("md5").update(data).digest("hex");
}

/** Deterministic pseudo-random bytes (fast, no 200 MB of crypto randomness). */
export function patternBytes(size: number, seed: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    buffer.writeUInt32LE(x, i);
  }
  for (let i = size - (size % 4); i < size; i++) buffer[i] = i & 0xff;
  return buffer;
}
