import { createServer } from "node:net";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterEach, describe, expect, it } from "vitest";
import { containerRuntimeAvailable, startMinioContainer } from "./minio.js";

describe("container runtime check", () => {
  const savedDockerHost = process.env.DOCKER_HOST;
  afterEach(() => {
    if (savedDockerHost === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = savedDockerHost;
  });

  it("answers quickly, with a one-line reason when there is no engine", async () => {
    const t0 = Date.now();
    const check = await containerRuntimeAvailable();
    expect(Date.now() - t0).toBeLessThan(3000);
    if (check.ok) expect(check.dockerHost).toMatch(/^(unix|tcp|npipe):\/\//);
    else expect(check.reason).toMatch(/^no container runtime \([^\n]+\)$/);
  });

  it("reports a DOCKER_HOST socket that does not exist", async () => {
    process.env.DOCKER_HOST = "unix:///nonexistent/docker.sock";
    expect(await containerRuntimeAvailable()).toEqual({
      ok: false,
      reason: "no container runtime (DOCKER_HOST=unix:///nonexistent/docker.sock does not answer)",
    });
  });

  it("reports a tcp DOCKER_HOST with nothing listening", async () => {
    // a port that was free a moment ago
    const probe = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => probe.once("listening", r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    process.env.DOCKER_HOST = `tcp://127.0.0.1:${port}`;
    const check = await containerRuntimeAvailable();
    expect(check).toEqual({ ok: false, reason: `no container runtime (DOCKER_HOST=tcp://127.0.0.1:${port} does not answer)` });
  });

  it("startMinioContainer refuses with the same reason when there is no engine", async (ctx) => {
    const check = await containerRuntimeAvailable();
    if (check.ok) ctx.skip("a container runtime exists here");
    else await expect(startMinioContainer()).rejects.toThrow(check.reason);
  });
});

describe("MinIO via testcontainers", () => {
  it("serves S3: create bucket, put, get", { timeout: 300_000 }, async (ctx) => {
    const check = await containerRuntimeAvailable();
    if (!check.ok) {
      console.warn(`${check.reason}: MinIO via testcontainers skipped`);
      ctx.skip(`${check.reason}: MinIO via testcontainers skipped`);
    }
    const minio = await startMinioContainer();
    ctx.onTestFinished(() => minio.stop());
    const s3 = new S3Client({
      endpoint: minio.endpoint,
      region: minio.region,
      credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
      forcePathStyle: true,
    });
    await s3.send(new CreateBucketCommand({ Bucket: "bucket-one" }));
    await s3.send(new PutObjectCommand({ Bucket: "bucket-one", Key: "k", Body: "hello minio" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: "bucket-one", Key: "k" }));
    expect(await got.Body!.transformToString()).toBe("hello minio");
  });
});
