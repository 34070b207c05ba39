// Chunked range caching of large remote objects, against a real remote (Ceph
// RGW): ranges cost only the chunks they touch, versions never mix, corrupt
// chunks are refetched, concurrent readers share chunk downloads.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localTier, type RunningServer } from "./harness.js";
import { md5, patternBytes, requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const skipReason = requireRgw();
const KiB = 1024;
const MiB = 1024 * KiB;

async function readRange(client: S3Client, bucket: string, key: string, range?: string): Promise<Buffer> {
  const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
  return Buffer.from(await output.Body!.transformToByteArray());
}

/** Flips one byte in every stored chunk of `size` bytes, wherever this run's store keeps them. */
async function corruptChunksOfSize(dataDir: string, size: number): Promise<number> {
  const flip = (data: Buffer) => {
    data[1000]! ^= 0xff;
    return data;
  };
  const tier = await localTier();
  if (tier) {
    // the S3 tier keeps chunks as objects under chunks/ in its cache bucket
    const client = new S3Client({
      endpoint: tier.endpoint, region: tier.region, forcePathStyle: true,
      credentials: { accessKeyId: tier.accessKeyId, secretAccessKey: tier.secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    try {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: "s3-overlay-cache", Prefix: "chunks/" }));
      const chunks = (listed.Contents ?? []).filter((entry) => entry.Size === size);
      for (const { Key } of chunks) {
        const output = await client.send(new GetObjectCommand({ Bucket: "s3-overlay-cache", Key }));
        const data = flip(Buffer.from(await output.Body!.transformToByteArray()));
        // the chunk's checksums are its metadata: keep them, as a bad disk would
        await client.send(new PutObjectCommand({ Bucket: "s3-overlay-cache", Key, Body: data, Metadata: output.Metadata }));
      }
      return chunks.length;
    } finally {
      client.destroy();
    }
  }
  // the embedded store keeps them as blob files
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (statSync(full).size === size) files.push(full);
    }
  };
  walk(path.join(dataDir, "blobs"));
  for (const file of files) writeFileSync(file, flip(readFileSync(file)));
  return files.length;
}

describe.skipIf(skipReason !== undefined)("chunked range caching (256 KiB chunks above 1 MiB)", () => {
  let remote: RemoteFixture;
  let server: RunningServer;
  let client: S3Client;
  const bucket = "large";
  const chunk = 256 * KiB;
  // 10 chunks and a partial one
  const size = 10 * chunk + 12345;
  const data = patternBytes(size, 42);

  beforeAll(async () => {
    remote = await startRemote();
    await remote.put(bucket, "obj.bin", data);
    await remote.put(bucket, "exact.bin", patternBytes(4 * chunk, 7));
    server = await startOverlay(remote, { env: { S3_OVERLAY_CHUNK_THRESHOLD: String(1 * MiB), S3_OVERLAY_CHUNK_SIZE: String(chunk), S3_OVERLAY_MAX_INFLIGHT_CHUNKS: "3" } });
    client = server.client();
  }, 240_000);

  afterAll(async () => {
    client?.destroy();
    await server?.destroy();
    await remote?.stop();
  });

  it("HEAD of a large uncached object downloads nothing", async () => {
    remote.proxy.reset();
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: "obj.bin" }));
    expect(head.ContentLength).toBe(size);
    expect(remote.proxy.stats().bytesFromTarget).toBeLessThan(16 * KiB);
  });

  it("a range inside one chunk fetches that chunk only", async () => {
    remote.proxy.reset();
    const body = await readRange(client, bucket, "obj.bin", `bytes=${3 * chunk + 100}-${3 * chunk + 199}`);
    expect(body.equals(data.subarray(3 * chunk + 100, 3 * chunk + 200))).toBe(true);
    // that chunk and nothing else (a ranged miss asks for the size with a HEAD first)
    const fetched = remote.proxy.stats().bytesFromTarget;
    expect(fetched).toBeGreaterThanOrEqual(chunk);
    expect(fetched).toBeLessThan(chunk + 16 * KiB);
  });

  it("serves ranges across boundaries, suffixes, the last partial chunk and exact ends byte for byte", async () => {
    const ranges: [string, number, number][] = [
      [`bytes=${chunk - 10}-${chunk + 9}`, chunk - 10, chunk + 9],
      [`bytes=${2 * chunk}-${5 * chunk - 1}`, 2 * chunk, 5 * chunk - 1],
      ["bytes=-5000", size - 5000, size - 1],
      [`bytes=${10 * chunk}-`, 10 * chunk, size - 1],
      [`bytes=${size - 1}-`, size - 1, size - 1],
      [`bytes=0-0`, 0, 0],
    ];
    for (const [range, start, end] of ranges) {
      const body = await readRange(client, bucket, "obj.bin", range);
      expect(body.equals(data.subarray(start, end + 1)), range).toBe(true);
    }
    const exact = await readRange(client, bucket, "exact.bin", `bytes=${3 * chunk}-`);
    expect(exact.equals(patternBytes(4 * chunk, 7).subarray(3 * chunk))).toBe(true);
    const whole = await readRange(client, bucket, "obj.bin");
    expect(md5(whole)).toBe(md5(data));
  });

  it("once every chunk is in, reads are served with the remote stopped", async () => {
    await readRange(client, bucket, "obj.bin");
    await new Promise((resolve) => setTimeout(resolve, 300));
    await remote.rgw.pause();
    try {
      expect(md5(await readRange(client, bucket, "obj.bin"))).toBe(md5(data));
      const part = await readRange(client, bucket, "obj.bin", `bytes=${chunk * 7 + 3}-${chunk * 9}`);
      expect(part.equals(data.subarray(chunk * 7 + 3, chunk * 9 + 1))).toBe(true);
    } finally {
      await remote.rgw.resume();
    }
  });

  it("detects a corrupted chunk on disk and fetches it again", async () => {
    // every full-size chunk file
    expect(await corruptChunksOfSize(server.dataDir, chunk)).toBe(10);
    remote.proxy.reset();
    expect(md5(await readRange(client, bucket, "obj.bin"))).toBe(md5(data));
    expect(remote.proxy.stats().bytesFromTarget).toBeGreaterThanOrEqual(10 * chunk);
  });

  it("a corrupt chunk found mid-body, after local chunks went out, is fetched again and the body completes", async () => {
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: "obj.bin" }), { expiresIn: 60 });
    const wholeRead = async () => {
      const response = await fetch(url);
      return { cache: response.headers.get("x-cache"), body: Buffer.from(await response.arrayBuffer()) };
    };
    // every chunk local again (the refetches above fill beside their responses)
    let read = await wholeRead();
    for (let waited = 0; read.cache !== "hit" && waited < 5000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      read = await wholeRead();
    }
    expect(read.cache).toBe("hit");
    // the last, partial chunk is the only one of its size
    expect(await corruptChunksOfSize(server.dataDir, size - 10 * chunk)).toBe(1);
    remote.proxy.reset();
    read = await wholeRead();
    expect(read.cache).toBe("hit");
    expect(md5(read.body)).toBe(md5(data));
    const fetched = remote.proxy.stats().bytesFromTarget;
    expect(fetched).toBeGreaterThanOrEqual(size - 10 * chunk);
    expect(fetched).toBeLessThan(chunk);
  });

  it("8 concurrent readers of overlapping ranges fetch each chunk once", async () => {
    await remote.put(bucket, "shared.bin", patternBytes(16 * chunk, 3));
    const source = patternBytes(16 * chunk, 3);
    remote.proxy.reset();
    const ranges = Array.from({ length: 8 }, (_, i) => ({ start: i * chunk + 1000, end: (i + 6) * chunk + 5000 }));
    const bodies = await Promise.all(ranges.map(async ({ start, end }) => {
      const reader = server.client();
      try {
        return await readRange(reader, bucket, "shared.bin", `bytes=${start}-${end}`);
      } finally {
        reader.destroy();
      }
    }));
    for (const [index, { start, end }] of ranges.entries()) expect(bodies[index]!.equals(source.subarray(start, end + 1))).toBe(true);
    // chunks 0..13 are touched, each fetched once (plus headers); the last ones may still be filling beside the responses
    let fetched = remote.proxy.stats().bytesFromTarget;
    for (let waited = 0; fetched < 14 * chunk && waited < 5000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      fetched = remote.proxy.stats().bytesFromTarget;
    }
    expect(fetched).toBeGreaterThanOrEqual(14 * chunk);
    expect(fetched).toBeLessThan(14 * chunk + 64 * KiB);
  });

  it("never mixes versions: a remote replacement mid-read fails the read, the next read is the new version", async () => {
    const v1 = patternBytes(12 * chunk, 100);
    const v2 = patternBytes(12 * chunk, 200);
    await remote.put(bucket, "changing.bin", v1);
    // cache the first chunk so the read starts locally, then replace the remote object
    expect((await readRange(client, bucket, "changing.bin", "bytes=0-99")).equals(v1.subarray(0, 100))).toBe(true);
    await remote.put(bucket, "changing.bin", v2);
    const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "changing.bin", Range: `bytes=0-${12 * chunk - 1}` }));
    const received: Buffer[] = [];
    const outcome = await new Promise<string>((resolve) => {
      const stream = output.Body as NodeJS.ReadableStream;
      stream.on("data", (part: Buffer) => received.push(part));
      stream.on("end", () => resolve("end"));
      stream.on("error", () => resolve("error"));
    });
    const got = Buffer.concat(received);
    // whatever arrived is a prefix of v1 only
    expect(got.equals(v1.subarray(0, got.length))).toBe(true);
    if (outcome === "end") expect(got.length).toBe(v1.length);
    else expect(got.length).toBeLessThan(v1.length);
    const fresh = await readRange(client, bucket, "changing.bin");
    expect(md5(fresh)).toBe(md5(v2));
  });

  it("X-Cache of a ranged read says whether the chunks of that range are local", async () => {
    await remote.put(bucket, "labels.bin", patternBytes(12 * chunk, 55));
    const xCache = async (range?: string) => {
      const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: "labels.bin", Range: range }), { expiresIn: 60 });
      const response = await fetch(url, { headers: range ? { range } : {} });
      await response.arrayBuffer();
      return response.headers.get("x-cache");
    };
    const inChunk5 = `bytes=${5 * chunk + 1000}-${5 * chunk + 2000}`;
    expect(await xCache(inChunk5)).toBe("miss");
    // chunk 5 fills beside the response; once it is in, the same range is a hit
    let label = await xCache(inChunk5);
    for (let waited = 0; label !== "hit" && waited < 5000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      label = await xCache(inChunk5);
    }
    expect(label).toBe("hit");
    expect(await xCache(`bytes=${5 * chunk}-${6 * chunk}`)).toBe("miss"); // reaches into chunk 6
    expect(await xCache()).toBe("miss");
  });

  it("random ranges over a large object match the source byte for byte", async () => {
    const bigSize = 24 * MiB + 777;
    const big = patternBytes(bigSize, 9);
    await remote.put(bucket, "random.bin", big);
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 40; i++) {
      const start = Math.floor(next() * bigSize);
      const length = 1 + Math.floor(next() * (next() < 0.5 ? 4 * KiB : 3 * MiB));
      const end = Math.min(bigSize - 1, start + length - 1);
      const body = await readRange(client, bucket, "random.bin", `bytes=${start}-${end}`);
      expect(body.equals(big.subarray(start, end + 1)), `bytes=${start}-${end}`).toBe(true);
    }
  });
});

describe.skipIf(skipReason !== undefined)("chunked caching at the default settings (16 MiB chunks above 50 MiB)", () => {
  let remote: RemoteFixture;

  beforeAll(async () => {
    remote = await startRemote();
  }, 240_000);

  afterAll(async () => {
    await remote?.stop();
  });

  it("a 1 MiB range in a 72 MiB object reads at most one chunk plus the overlap", async () => {
    const size = 72 * MiB;
    const data = patternBytes(size, 5);
    await remote.put("defaults", "big.bin", data);
    const server = await startOverlay(remote);
    const client = server.client();
    try {
      remote.proxy.reset();
      const start = 40 * MiB + 12345;
      const body = await readRange(client, "defaults", "big.bin", `bytes=${start}-${start + MiB - 1}`);
      expect(body.equals(data.subarray(start, start + MiB))).toBe(true);
      const fetched = remote.proxy.stats().bytesFromTarget;
      expect(fetched).toBeLessThan(16 * MiB + MiB + 4 * MiB);
      // the range came straight from the remote; its chunk is cached beside it
      await new Promise((resolve) => setTimeout(resolve, 1500));
      remote.proxy.reset();
      const again = await readRange(client, "defaults", "big.bin", `bytes=${start}-${start + MiB - 1}`);
      expect(again.equals(body)).toBe(true);
      expect(remote.proxy.stats().bytesFromTarget).toBe(0);
      const whole = await readRange(client, "defaults", "big.bin");
      expect(md5(whole)).toBe(md5(data));
    } finally {
      client.destroy();
      await server.destroy();
    }
  });
});
