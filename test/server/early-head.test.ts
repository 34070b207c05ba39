// A miss sends its head as soon as the remote's headers are in, not when the
// first body bytes arrive (src/server/app.ts sendHeadNow); a hit is unchanged.
import { PassThrough } from "node:stream";
import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { loadServeConfig } from "../../src/config.js";
import type { ReadOptions, RemoteRead } from "../../src/engine/remote.js";
import { createNodeHandler } from "../../src/server/app.js";
import { engineOnDoubles, readAll } from "../doubles/engine.js";
import { FakeRemote, Gate } from "../doubles/fake-remote.js";
import { startSdkEndpoint } from "../s3/sdk-endpoint.js";

/** A remote whose answers carry their headers now and hold their body until `body.open()`. */
class SlowBodyRemote extends FakeRemote {
  body = new Gate();
  override async get(bucket: string, key: string, options: ReadOptions = {}): Promise<RemoteRead | undefined> {
    const read = await super.get(bucket, key, options);
    if (!read) return read;
    const held = new PassThrough();
    void this.body.opened.then(() => read.body.pipe(held));
    read.body.once("error", (error) => held.destroy(error));
    return { ...read, body: held };
  }
}

async function endpointOn(remote: FakeRemote) {
  const { engine } = await engineOnDoubles({}, remote);
  const config = loadServeConfig({}, { S3_OVERLAY_LOCAL_ACCESS_KEY: "test", S3_OVERLAY_LOCAL_SECRET_KEY: "test" });
  return startSdkEndpoint(createNodeHandler(engine, config) as never);
}

describe("the head of a streamed answer", () => {
  it("a miss answers with its headers while the remote's body is still held, then the whole body", async () => {
    const remote = new SlowBodyRemote(["remote"]);
    remote.put("remote", "small.txt", "4 KiB of fixture, or so");
    const endpoint = await endpointOn(remote);
    try {
      const answer = await Promise.race([
        endpoint.client.send(new GetObjectCommand({ Bucket: "remote", Key: "small.txt" })),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no head before the body")), 2000)),
      ]);
      expect(answer.$metadata.httpStatusCode).toBe(200);
      expect(answer.ContentLength).toBe(23);
      remote.body.open();
      expect((await readAll(answer.Body as never)).toString()).toBe("4 KiB of fixture, or so");
      // and the fill completed: the next read is a hit that asks the remote nothing more
      const gets = remote.count("GET");
      const again = await endpoint.client.send(new GetObjectCommand({ Bucket: "remote", Key: "small.txt" }));
      expect(await again.Body!.transformToString()).toBe("4 KiB of fixture, or so");
      expect(remote.count("GET")).toBe(gets);
    } finally {
      remote.body.open();
      await endpoint.close();
    }
  });

  it("non-ASCII metadata goes out in the bytes it came in, as on a hit and a HEAD", async () => {
    const remote = new SlowBodyRemote(["remote"]);
    remote.body.open();
    // Node hands header values over as latin1: one char per byte; these are the UTF-8 bytes of "é"
    const greeting = Buffer.from("Hello World\u00e9", "utf8").toString("latin1");
    remote.put("remote", "meta.txt", "x", { userMetadata: { greeting } });
    const endpoint = await endpointOn(remote);
    try {
      const miss = await endpoint.client.send(new GetObjectCommand({ Bucket: "remote", Key: "meta.txt" }));
      await miss.Body!.transformToString();
      const head = await endpoint.client.send(new HeadObjectCommand({ Bucket: "remote", Key: "meta.txt" }));
      const hit = await endpoint.client.send(new GetObjectCommand({ Bucket: "remote", Key: "meta.txt" }));
      await hit.Body!.transformToString();
      expect([miss.Metadata?.greeting, head.Metadata?.greeting, hit.Metadata?.greeting]).toEqual([greeting, greeting, greeting]);
    } finally {
      await endpoint.close();
    }
  });

  it("a remote body that fails after the head was sent aborts the answer (never a silently short object)", async () => {
    const remote = new SlowBodyRemote(["remote"]);
    remote.put("remote", "broken.bin", Buffer.alloc(300 * 1024, 7));
    const original = remote.get.bind(remote);
    remote.get = async (bucket, key, options) => {
      const read = await original(bucket, key, options);
      if (read) setTimeout(() => read.body.destroy(new Error("remote connection reset")), 50);
      return read;
    };
    const endpoint = await endpointOn(remote);
    try {
      const answer = await endpoint.client.send(new GetObjectCommand({ Bucket: "remote", Key: "broken.bin" }));
      await expect(answer.Body!.transformToByteArray()).rejects.toThrow();
    } finally {
      await endpoint.close();
    }
  });
});
