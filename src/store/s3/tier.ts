// The tier toolkit every part of the store shares: signed requests and SDK
// control calls whose failures become the S3 errors a client should see, HEAD,
// PUT, DELETE and listing of tier objects, and small concurrency helpers.
import type { Readable } from "node:stream";
import { ListObjectsV2Command, type S3Client, type _Object } from "@aws-sdk/client-s3";
import type { Dispatcher } from "undici";
import { S3Error } from "../../s3/errors.js";
import { unquoteEtag } from "../../s3/signer.js";
import type { ObjectInfo } from "../types.js";
import { storableKey } from "./cache-keys.js";
import { infoFromHeaders } from "./metadata.js";
import type { UpstreamClient } from "../../upstream/client.js";
import { errorCodeIn, errorFor, errorFromSdk } from "../../upstream/errors.js";

/** HEAD requests in flight while a listing learns each object's metadata */
export const PARALLEL_HEADS = 32;

/** bytes a read's lookup fetches with the object's facts: objects this small are read in the same request */
export const READ_WITH_LOOKUP = 64 * 1024;

export interface ListedObject {
  key: string;
  size: number;
  /** the tier's own Last-Modified: when the object was last written there */
  stored: Date;
}

export class Tier {
  constructor(
    readonly http: UpstreamClient,
    readonly sdk: S3Client,
    /** the cache bucket: tombstones, absent markers, chunks and upload bookkeeping */
    readonly cache: string,
  ) {}

  /** An SDK control call; its failures become the S3 errors a client should see. */
  async control<T>(what: string, run: () => Promise<T>, bucket?: string, uploadId?: string): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw errorFromSdk(this.http, error, what, { bucket, uploadId });
    }
  }

  /** The S3 error for a non-2xx answer of a signed request. */
  failure(response: Dispatcher.ResponseData, what: string, bucket: string, key?: string): Promise<S3Error> {
    return this.http.errorOf(response, what, { bucket, key });
  }

  /** Awaits a request that answers XML; a 200 carrying <Error> (CompleteMultipartUpload, CopyObject) is a failure too. */
  async expectXml(pending: Promise<Dispatcher.ResponseData>, what: string, bucket: string, key?: string): Promise<string> {
    const response = await pending;
    if (response.statusCode !== 200) throw await this.failure(response, what, bucket, key);
    const xml = await response.body.text();
    // S3 sends a 200 before it knows how a long call ends, then the error in the body: as if it had been a 500 for these two
    const code = /<Error>/.test(xml) ? errorCodeIn(xml) : undefined;
    if (code !== undefined) throw errorFor(this.http, code === "InternalError" || code === "SlowDown" ? 500 : 400, code, what, { bucket, key });
    return xml;
  }

  async headStored(bucket: string, key: string): Promise<{ info: ObjectInfo; tierEtag: string } | undefined> {
    if (!storableKey(key)) return undefined;
    const response = await this.http.send({ method: "HEAD", bucket, key });
    response.body.resume();
    if (response.statusCode === 404) return undefined;
    if (response.statusCode !== 200) throw await this.failure(response, `HEAD ${bucket}/${key}`, bucket, key);
    return { info: infoFromHeaders(bucket, key, response.headers), tierEtag: unquoteEtag(String(response.headers.etag ?? "")) };
  }

  /**
   * A lookup before a read: one GET of the first READ_WITH_LOOKUP bytes instead of
   * a HEAD, so a small object's lookup and read are one round trip (a tier hit of
   * 4 KiB was a HEAD and a GET, each a ~1.5 ms RGW request). `body`: the whole object,
   * when that fits. An empty object (also a chunk manifest) answers a range with
   * 416, so it costs the HEAD after all.
   */
  async lookupForRead(bucket: string, key: string): Promise<{ info: ObjectInfo; body?: Buffer } | undefined> {
    if (!storableKey(key)) return undefined;
    const response = await this.http.send({ method: "GET", bucket, key, headers: { range: `bytes=0-${READ_WITH_LOOKUP - 1}` } });
    if (response.statusCode === 404 || response.statusCode === 416) {
      response.body.resume();
      if (response.statusCode === 404) return undefined;
      const stored = await this.headStored(bucket, key);
      if (stored === undefined) return undefined;
      // an empty object's bytes are known from its HEAD (a manifest's are its chunks)
      return stored.info.size === 0 && stored.info.chunkSize === undefined ? { info: stored.info, body: Buffer.alloc(0) } : { info: stored.info };
    }
    if (response.statusCode !== 200 && response.statusCode !== 206) throw await this.failure(response, `GET ${bucket}/${key}`, bucket, key);
    const info = infoFromHeaders(bucket, key, response.headers);
    if (info.chunkSize !== undefined || info.size > READ_WITH_LOOKUP) {
      await response.body.dump();
      return { info };
    }
    const body = Buffer.from(await response.body.arrayBuffer());
    // anything but the whole object (a tier answering its own way) is not kept: the read asks again
    return body.length === info.size ? { info, body } : { info };
  }

  async headObject(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    return (await this.headStored(bucket, key))?.info;
  }

  async exists(bucket: string, key: string): Promise<boolean> {
    return (await this.headStored(bucket, key)) !== undefined;
  }

  async bucketExists(bucket: string): Promise<boolean> {
    const response = await this.http.send({ method: "HEAD", bucket });
    response.body.resume();
    if (response.statusCode === 404) return false;
    if (response.statusCode !== 200) throw await this.failure(response, `HEAD bucket ${bucket}`, bucket);
    return true;
  }

  async putBody(bucket: string, key: string, headers: Record<string, string>, body: Readable | Buffer, length: number): Promise<void> {
    const response = await this.http.send({ method: "PUT", bucket, key, headers, body, contentLength: length });
    if (response.statusCode !== 200) throw await this.failure(response, `PUT ${bucket}/${key}`, bucket, key);
    response.body.resume();
  }

  /** A zero-byte marker in the cache bucket. */
  putMarker(key: string, headers: Record<string, string> = {}): Promise<void> {
    return this.putBody(this.cache, key, headers, Buffer.alloc(0), 0);
  }

  async deleteKey(bucket: string, key: string): Promise<void> {
    const response = await this.http.send({ method: "DELETE", bucket, key });
    if (response.statusCode !== 204 && response.statusCode !== 200 && response.statusCode !== 404) throw await this.failure(response, `DELETE ${bucket}/${key}`, bucket, key);
    response.body.resume();
  }

  async deleteCacheKeys(entries: { key: string }[]): Promise<void> {
    await mapLimited(entries, PARALLEL_HEADS, (entry) => this.deleteKey(this.cache, entry.key));
  }

  /** Everything in the cache bucket under prefix goes. */
  async deleteCachePrefix(prefix: string): Promise<void> {
    await this.deleteCacheKeys(await this.listAllKeys(this.cache, prefix));
  }

  /** Up to `limit` keys of a tier bucket after startAfter under prefix, in the tier's (UTF-8 byte) order. */
  async listTier(bucket: string, prefix: string, startAfter: string | undefined, limit: number): Promise<ListedObject[]> {
    const listed: ListedObject[] = [];
    let token: string | undefined;
    do {
      const output = await this.control("ListObjectsV2", () => this.sdk.send(new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix || undefined,
        StartAfter: token === undefined ? startAfter : undefined,
        ContinuationToken: token,
        MaxKeys: Math.min(limit - listed.length, 1000),
      })), bucket).catch((error: unknown) => {
        if (error instanceof S3Error && error.code === "NoSuchBucket") return { Contents: [] as _Object[], IsTruncated: false, NextContinuationToken: undefined };
        throw error;
      });
      for (const entry of output.Contents ?? []) listed.push({ key: entry.Key!, size: entry.Size ?? 0, stored: entry.LastModified ?? new Date(0) });
      token = output.IsTruncated ? output.NextContinuationToken : undefined;
    } while (token !== undefined && listed.length < limit);
    return listed;
  }

  listAllKeys(bucket: string, prefix: string): Promise<ListedObject[]> {
    return this.listTier(bucket, prefix, undefined, Infinity);
  }
}

/** Stops an unwanted body without reading it (undici reports the abort as an error: nobody needs it). */
export function dropBody(response: Dispatcher.ResponseData): void {
  response.body.on("error", () => undefined).destroy();
}

export function xmlValue(xml: string, element: string): string | undefined {
  const raw = new RegExp(`<${element}>([^<]*)</${element}>`).exec(xml)?.[1];
  return raw?.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
