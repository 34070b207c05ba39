// ListObjects v1 and v2 through @aws-sdk/client-s3, checked against a model of S3 listing
// computed here: keys sorted by UTF-8 bytes, prefix filter, delimiter roll-up, paging.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CreateBucketCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { startServer, type RunningServer } from "./harness.js";
import { byUtf8, expectS3Error, inParallel, quotedMd5, uniqueBucket } from "./sdk-helpers.js";

let server: RunningServer;
let s3: S3Client;
let bucket: string;

/** ~300 keys that exercise ordering and roll-up: shared prefixes, characters sorting just
 *  before and after "/", keys equal to a common prefix, unicode beyond the BMP, XML specials. */
function buildKeys(): string[] {
  const keys = new Set<string>();
  for (let i = 0; i < 40; i++) keys.add(`a/${i}`);
  for (let i = 0; i < 20; i++) keys.add(`a/b/${i}`);
  for (const key of ["a", "a/", "a//double", "a/b/c/deep", "a-b", "a.b", "a0", "a~", "A/upper", "CAPS"]) keys.add(key);
  for (let month = 1; month <= 12; month++) for (const year of [2023, 2024]) keys.add(`photos/${year}/${String(month).padStart(2, "0")}/img.jpg`);
  for (let i = 0; i < 6; i++) keys.add(`photos/2024/raw-${i}`);
  for (let i = 0; i < 10; i++) keys.add(`日本/東京/${i}`);
  for (const key of ["日本語", "日本", "é/1", "é/2", "e/1", "z"]) keys.add(key);
  for (let i = 0; i < 10; i++) keys.add(`with space/a b ${i}`);
  for (let i = 0; i < 10; i++) keys.add(`plus+sign/${i}+${i}`);
  keys.add("plus sign/1");
  for (let i = 0; i < 5; i++) keys.add(`per%cent/%4${i}`);
  keys.add("per%25cent");
  for (const key of ["x-y-z", "x-y/z", "x/y-z", "xyz", "x"]) keys.add(key);
  // U+FFFD sorts before U+1F600 in UTF-8 but after its surrogates in UTF-16
  for (const key of ["\uFFFDreplacement", "😀/emoji", "😀", "\uE000private", "amp&<xml>\"'"]) keys.add(key);
  for (let i = 0; i < 120; i++) keys.add(`bulk/${String(i).padStart(4, "0")}`);
  return [...keys].sort(byUtf8);
}

const KEYS = buildKeys();

type Entry = { key: string } | { prefix: string };

/** What S3 lists for (prefix, delimiter) after `after` (exclusive), in order. */
function model(prefix: string, delimiter: string | undefined, after?: string): Entry[] {
  const entries: Entry[] = [];
  const seen = new Set<string>();
  for (const key of KEYS) {
    if (!key.startsWith(prefix)) continue;
    if (after !== undefined && byUtf8(key, after) <= 0) continue;
    const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    if (cut === -1) {
      entries.push({ key });
    } else {
      const common = key.slice(0, cut + delimiter!.length);
      if (!seen.has(common)) entries.push({ prefix: common });
      seen.add(common);
    }
  }
  return entries;
}

function pageEntries(contents: Array<{ Key?: string }> | undefined, prefixes: Array<{ Prefix?: string }> | undefined): Entry[] {
  const entries: Entry[] = [...(contents ?? []).map((c) => ({ key: c.Key! })), ...(prefixes ?? []).map((p) => ({ prefix: p.Prefix! }))];
  return entries.sort((x, y) => byUtf8("key" in x ? x.key : x.prefix, "key" in y ? y.key : y.prefix));
}

beforeAll(async () => {
  server = await startServer();
  s3 = server.client();
  bucket = uniqueBucket("listing");
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  // each object's body is its key, so Size and ETag are predictable
  await inParallel(KEYS, 16, (key) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key })));
});

afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

const COMBOS: Array<[prefix: string, delimiter: string | undefined, maxKeys: number]> = [
  ["", undefined, 1000],
  ["", undefined, 77],
  ["", "/", 1000],
  ["", "/", 3],
  ["a", "/", 4],
  ["a/", "/", 7],
  ["a/b/", "/", 6],
  ["photos/", "/", 1],
  ["photos/2024/", undefined, 9],
  ["日本", "/", 2],
  ["with space/", undefined, 4],
  ["plus+", "/", 5],
  ["per%", "/", 2],
  ["", "-", 25],
  ["x", "y", 1],
  ["😀", "/", 1],
  ["nothing-here/", "/", 10],
];

async function listAllV1(prefix: string, delimiter: string | undefined, maxKeys: number, marker?: string) {
  const all: Entry[] = [];
  for (let page = 0; page < 1000; page++) {
    const result = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix || undefined, Delimiter: delimiter, MaxKeys: maxKeys, Marker: marker }));
    const entries = pageEntries(result.Contents, result.CommonPrefixes);
    expect(entries.length).toBeLessThanOrEqual(maxKeys);
    expect(result.MaxKeys).toBe(maxKeys);
    expect(result.Prefix ?? "").toBe(prefix);
    expect(result.Marker ?? "").toBe(marker ?? "");
    all.push(...entries);
    if (!result.IsTruncated) return all;
    expect(entries.length, "a truncated page lists something").toBeGreaterThan(0);
    // AWS returns NextMarker only when a delimiter is given; otherwise the last key is the marker
    if (delimiter) expect(result.NextMarker, "NextMarker on a truncated page with a delimiter").toBeTruthy();
    marker = result.NextMarker ?? result.Contents!.at(-1)!.Key!;
  }
  throw new Error("v1 listing did not end in 1000 pages");
}

async function listAllV2(prefix: string, delimiter: string | undefined, maxKeys: number, startAfter?: string) {
  const all: Entry[] = [];
  let token: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, Delimiter: delimiter, MaxKeys: maxKeys, ContinuationToken: token, StartAfter: startAfter }),
    );
    const entries = pageEntries(result.Contents, result.CommonPrefixes);
    expect(result.KeyCount).toBe(entries.length);
    expect(entries.length).toBeLessThanOrEqual(maxKeys);
    expect(result.MaxKeys).toBe(maxKeys);
    expect(result.Prefix ?? "").toBe(prefix);
    expect(result.Delimiter || undefined).toBe(delimiter);
    expect(result.ContinuationToken).toBe(token);
    if (startAfter !== undefined) expect(result.StartAfter).toBe(startAfter);
    all.push(...entries);
    if (!result.IsTruncated) {
      expect(result.NextContinuationToken).toBeUndefined();
      return all;
    }
    expect(entries.length, "a truncated page lists something").toBeGreaterThan(0);
    expect(result.NextContinuationToken).toBeTruthy();
    token = result.NextContinuationToken;
  }
  throw new Error("v2 listing did not end in 1000 pages");
}

describe("model-based paging", () => {
  test.each(COMBOS)("v1 prefix=%j delimiter=%j max-keys=%i pages through the model", async (prefix, delimiter, maxKeys) => {
    expect(await listAllV1(prefix, delimiter, maxKeys)).toEqual(model(prefix, delimiter));
  });

  test.each(COMBOS)("v2 prefix=%j delimiter=%j max-keys=%i pages through the model", async (prefix, delimiter, maxKeys) => {
    expect(await listAllV2(prefix, delimiter, maxKeys)).toEqual(model(prefix, delimiter));
  });

  const AFTER: Array<[prefix: string, delimiter: string | undefined, maxKeys: number, after: string]> = [
    ["", undefined, 50, "a/b/5"],
    ["", "/", 4, "b"],
    ["photos/", "/", 1, "photos/2023/zzz"],
    ["a/b/", undefined, 3, "0"],
    ["", undefined, 10, "bulk/0100"],
    ["", "/", 10, "\u{10FFFF}"],
  ];

  test.each(AFTER)("v1 prefix=%j delimiter=%j max-keys=%i marker=%j", async (prefix, delimiter, maxKeys, after) => {
    expect(await listAllV1(prefix, delimiter, maxKeys, after)).toEqual(model(prefix, delimiter, after));
  });

  test.each(AFTER)("v2 prefix=%j delimiter=%j max-keys=%i start-after=%j", async (prefix, delimiter, maxKeys, after) => {
    expect(await listAllV2(prefix, delimiter, maxKeys, after)).toEqual(model(prefix, delimiter, after));
  });
});

describe("entries", () => {
  test("every key is listed once, in UTF-8 byte order, with its size, ETag and storage class", async () => {
    const result = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(result.IsTruncated).toBe(false);
    expect(result.Contents!.map((c) => c.Key)).toEqual(KEYS);
    for (const entry of result.Contents!) {
      expect(entry.Size, entry.Key).toBe(Buffer.byteLength(entry.Key!));
      expect(entry.ETag, entry.Key).toBe(quotedMd5(entry.Key!));
      expect(entry.LastModified).toBeInstanceOf(Date);
      expect(entry.StorageClass).toBe("STANDARD");
    }
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: bucket }));
    expect(v1.Contents!.map((c) => c.Key)).toEqual(KEYS);
    expect(v1.Contents!.map((c) => c.ETag)).toEqual(result.Contents!.map((c) => c.ETag));
  });

  test("max-keys above 1000 is capped, not an error", async () => {
    const result = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 5000 }));
    expect(result.KeyCount).toBe(KEYS.length);
    expect(result.IsTruncated).toBe(false);
  });

  test("an empty bucket lists nothing", async () => {
    const empty = uniqueBucket("empty-list");
    await s3.send(new CreateBucketCommand({ Bucket: empty }));
    const v2 = await s3.send(new ListObjectsV2Command({ Bucket: empty }));
    expect({ count: v2.KeyCount, contents: v2.Contents, truncated: v2.IsTruncated, name: v2.Name }).toEqual({
      count: 0, contents: undefined, truncated: false, name: empty,
    });
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: empty }));
    expect(v1.Contents).toBeUndefined();
    expect(v1.IsTruncated).toBe(false);
  });

  test("a continuation token that was never issued answers 400 InvalidArgument", async () => {
    await expectS3Error(s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: "not-a-token-this-server-issued" })), 400, "InvalidArgument");
  });
});

describe("encoding-type=url", () => {
  // decoded as clients decode (unquote_plus): a space is %20 here, a literal "+" must be "%2B"
  const decode = (value: string) => decodeURIComponent(value.replace(/\+/g, " "));
  const special = KEYS.filter((key) => /[^A-Za-z0-9/._~-]/.test(key));

  test("v2 keys come back percent-encoded and decode to the stored keys", async () => {
    const result = await s3.send(new ListObjectsV2Command({ Bucket: bucket, EncodingType: "url" }));
    expect(result.EncodingType).toBe("url");
    const raw = result.Contents!.map((c) => c.Key!);
    for (const value of raw) expect(value, "encoded keys are printable ASCII without spaces").toMatch(/^[\x21-\x7e]*$/);
    expect(raw.map(decode)).toEqual(KEYS);
    // the keys that needed encoding really were encoded
    expect(special.length).toBeGreaterThan(10);
    for (const key of special) expect(raw).not.toContain(key);
  });

  test("v2 prefix, delimiter, common prefixes and start-after are encoded too", async () => {
    const result = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, EncodingType: "url", Prefix: "plus+", Delimiter: "/", StartAfter: "plus+sign" }),
    );
    expect(decode(result.Prefix!)).toBe("plus+");
    expect(result.Prefix).not.toBe("plus+");
    expect(decode(result.StartAfter!)).toBe("plus+sign");
    expect(result.CommonPrefixes!.map((p) => decode(p.Prefix!))).toEqual(["plus+sign/"]);

    const unicode = await s3.send(new ListObjectsV2Command({ Bucket: bucket, EncodingType: "url", Prefix: "日本/", Delimiter: "/" }));
    expect(unicode.CommonPrefixes!.map((p) => decode(p.Prefix!))).toEqual(["日本/東京/"]);
    expect(unicode.CommonPrefixes![0].Prefix).toMatch(/^[\x21-\x7e]*$/);
  });

  test("v1 keys and NextMarker are encoded and the decoded marker continues the listing", async () => {
    const all: string[] = [];
    let marker: string | undefined;
    for (let page = 0; page < 100; page++) {
      const result = await s3.send(new ListObjectsCommand({ Bucket: bucket, EncodingType: "url", Prefix: "with space/", Delimiter: "/", MaxKeys: 3, Marker: marker }));
      const keys = (result.Contents ?? []).map((c) => decode(c.Key!));
      all.push(...keys);
      if (!result.IsTruncated) break;
      marker = decode(result.NextMarker!);
    }
    expect(all).toEqual(KEYS.filter((key) => key.startsWith("with space/")));
  });
});
