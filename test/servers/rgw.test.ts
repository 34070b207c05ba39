import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, describe, expect, it } from "vitest";
import { rgwAvailable, startRgw, type RgwServer } from "./rgw.js";

const available = rgwAvailable();
// In CI an unavailable RGW is a failure; elsewhere the suite skips with the reason.
const skipReason = !available.ok && !process.env.CI ? `Ceph RGW unavailable: ${available.reason}` : undefined;
if (skipReason) console.warn(`${skipReason} -- RGW launcher tests skipped`);

function clientFor(server: RgwServer): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    maxAttempts: 1,
  });
}

/** pids of the cluster's daemons, as recorded by rgw-up.sh */
function clusterPids(dir: string): number[] {
  const pidDir = join(dir, "pids");
  return readdirSync(pidDir).map((f) => Number(readFileSync(join(pidDir, f), "utf8").trim()));
}

/** alive = exists and is not a zombie */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

async function rawGetStatus(url: string, timeoutMs: number): Promise<number | string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return res.status;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return cause?.code ?? (err as Error).name;
  }
}

describe("Ceph RGW launcher", () => {
  const started: RgwServer[] = [];
  afterAll(async () => {
    for (const s of started) await s.stop();
  });

  it("starts, serves S3 with the given keys, pauses/resumes, and stops without leftovers", async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    if (!available.ok) throw new Error(available.reason);

    const t0 = Date.now();
    const server = await startRgw({ accessKeyId: "remote", secretAccessKey: "remotesecret" });
    started.push(server);
    console.log(`RGW ready at ${server.endpoint} in ${Date.now() - t0} ms`);
    expect(server.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.pid).toBeGreaterThan(0);

    const s3 = clientFor(server);
    await s3.send(new CreateBucketCommand({ Bucket: "bucket-one" }));
    const body = Buffer.from("hello from rgw ".repeat(1000));
    const put = await s3.send(new PutObjectCommand({ Bucket: "bucket-one", Key: "dir/obj.txt", Body: body }));
    expect(put.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    const got = await s3.send(new GetObjectCommand({ Bucket: "bucket-one", Key: "dir/obj.txt" }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(got.ETag).toBe(put.ETag);

    // wrong secret is rejected: the server really checks signatures
    const wrong = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: "not-the-secret" },
      forcePathStyle: true,
      maxAttempts: 1,
    });
    await expect(wrong.send(new GetObjectCommand({ Bucket: "bucket-one", Key: "dir/obj.txt" }))).rejects.toMatchObject({
      name: "SignatureDoesNotMatch",
    });

    // "refuse": connections are refused, and after resume the data is still there
    await server.pause();
    expect(await rawGetStatus(server.endpoint, 2000)).toBe("ECONNREFUSED");
    await server.resume();
    const again = await s3.send(new GetObjectCommand({ Bucket: "bucket-one", Key: "dir/obj.txt" }));
    expect(again.ContentLength).toBe(body.length);

    // "hang": the port accepts but never answers
    await server.pause("hang");
    expect(await rawGetStatus(server.endpoint, 500)).toBe("TimeoutError");
    await server.resume();
    expect(await rawGetStatus(server.endpoint, 5000)).toBe(200);

    const pids = clusterPids(server.dir);
    expect(pids.length).toBe(5); // mon, osd, restart loop, radosgw, watchdog
    expect(pids.every(isRunning)).toBe(true);
    await server.stop();
    expect(pids.filter(isRunning)).toEqual([]);
    expect(existsSync(server.dir)).toBe(false);
    expect(await rawGetStatus(server.endpoint, 2000)).toBe("ECONNREFUSED");
  });

  it("runs two clusters side by side, isolated from each other", async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    if (!available.ok) throw new Error(available.reason);

    const [a, b] = await Promise.all([startRgw(), startRgw({ accessKeyId: "other", secretAccessKey: "othersecret" })]);
    started.push(a, b);
    expect(a.endpoint).not.toBe(b.endpoint);
    await clientFor(a).send(new CreateBucketCommand({ Bucket: "only-in-a" }));
    await clientFor(a).send(new PutObjectCommand({ Bucket: "only-in-a", Key: "k", Body: "a" }));
    // b has its own user and no such bucket
    await expect(clientFor(b).send(new GetObjectCommand({ Bucket: "only-in-a", Key: "k" }))).rejects.toMatchObject({
      name: "NoSuchBucket",
    });
    await a.stop();
    await b.stop();
  });

  it("the watchdog stops the cluster when its owner process dies", async (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    if (!available.ok) throw new Error(available.reason);

    const owner = spawn("sleep", ["60"], { stdio: "ignore" });
    ctx.onTestFinished(() => {
      owner.kill("SIGKILL");
    });
    const dir = mkdtempSync(join(tmpdir(), "s3o-rgw-watchdog-"));
    const { stdout } = await promisify(execFile)("bash", [join(dirname(fileURLToPath(import.meta.url)), "rgw-up.sh")], {
      env: { ...process.env, RGW_DIR: dir, RGW_OWNER_PID: String(owner.pid) },
    });
    expect(stdout).toMatch(/^endpoint=http:\/\/127\.0\.0\.1:\d+\n$/);
    const pids = clusterPids(dir);
    expect(pids.length).toBe(5);
    owner.kill("SIGKILL");
    const deadline = Date.now() + 10_000;
    while ((pids.some(isRunning) || existsSync(dir)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(pids.filter(isRunning)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
