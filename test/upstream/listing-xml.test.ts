// Reading the remote's listing answers without the SDK: what S3 and RGW write
// is read exactly (keys byte for byte, entities decoded), and anything that is
// not the whole document asked for is refused instead of listing as empty.
import { describe, expect, test } from "vitest";
import { decodeEntities, parseObjectListing, parseVersionListing, UnparsableListing } from "../../src/upstream/listing-xml.js";

const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

/** One <Contents> as AWS writes it, Owner and all. */
const contents = (key: string, size: number, etag: string, modified = "2026-01-02T03:04:05.000Z") =>
  `<Contents><Key>${key}</Key><LastModified>${modified}</LastModified><ETag>${etag}</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm>` +
  `<Size>${size}</Size><Owner><ID>abc</ID><DisplayName>owner</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>`;

describe("ListBucketResult", () => {
  test("keys, sizes, ETags and dates of every entry, in order; escaped and odd keys come back byte for byte", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult ${NS}><Name>b</Name><Prefix></Prefix><KeyCount>4</KeyCount>` +
      `<MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>` +
      contents("a&amp;b &lt;c&gt; &quot;q&quot; &apos;s&apos;", 0, "&quot;d41d8cd98f00b204e9800998ecf8427e&quot;") +
      contents(" lead and trail ", 12, '"0cc175b9c0f1b6a831c399e269772661"') +
      contents("emoji &#x1F600; cr&#13;", 5_000_000_000, '"9b2cf535f27731c974343645a3985328-3"') +
      contents("ünïcødé/日本", 1, '"x"') +
      `<NextContinuationToken>t</NextContinuationToken></ListBucketResult>`;
    const listing = parseObjectListing(xml);
    expect(listing.isTruncated).toBe(true);
    expect(listing.objects.map((entry) => entry.key)).toEqual([`a&b <c> "q" 's'`, " lead and trail ", "emoji \u{1F600} cr\r", "ünïcødé/日本"]);
    expect(listing.objects.map((entry) => entry.size)).toEqual([0, 12, 5_000_000_000, 1]);
    expect(listing.objects[0]!.etag).toBe('"d41d8cd98f00b204e9800998ecf8427e"');
    expect(listing.objects[2]!.etag).toBe('"9b2cf535f27731c974343645a3985328-3"');
    expect(listing.objects[1]!.lastModified.toISOString()).toBe("2026-01-02T03:04:05.000Z");
  });

  test("an empty bucket, pretty-printed and without a declaration, lists nothing and is not truncated", () => {
    const xml = `<ListBucketResult ${NS}>\n  <Name>b</Name>\n  <Prefix/>\n  <KeyCount>0</KeyCount>\n  <IsTruncated>false</IsTruncated>\n</ListBucketResult>\n`;
    expect(parseObjectListing(xml)).toEqual({ objects: [], isTruncated: false });
  });

  test.each([
    ["an empty body", "", /an empty body/],
    ["text that is not XML", "this is not xml <<< at all", /not XML/],
    ["an HTML error page", "<html><body><h1>502 Bad Gateway</h1></body></html>", /root element is html/],
    ["an S3 error document", "<Error><Code>SlowDown</Code></Error>", /root element is Error/],
    ["the other listing", `<ListVersionsResult ${NS}><IsTruncated>false</IsTruncated></ListVersionsResult>`, /root element is ListVersionsResult/],
    ["a truncated answer", `<ListBucketResult><Name>b</Name>${contents("a", 1, '"x"').slice(0, 40)}`, /does not end with <\/ListBucketResult>/],
    ["trailing junk", `<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult><more/>`, /does not end with/],
    ["an entry without a Key", `<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>`, /no Key/],
    ["a Size that is not a byte count", `<ListBucketResult>${contents("a", -1, '"x"')}</ListBucketResult>`, /Size of "a"/],
    ["a date that is not a date", `<ListBucketResult>${contents("a", 1, '"x"', "yesterday")}</ListBucketResult>`, /LastModified of "a"/],
    ["an unknown entity", `<ListBucketResult>${contents("a&nbsp;b", 1, '"x"')}</ListBucketResult>`, /unknown entity &nbsp;/],
    ["markup inside a key", `<ListBucketResult>${contents("<![CDATA[a]]>", 1, '"x"')}</ListBucketResult>`, /markup/],
  ])("%s is refused with the reason", (_what, xml, reason) => {
    expect(() => parseObjectListing(xml)).toThrow(UnparsableListing);
    expect(() => parseObjectListing(xml)).toThrow(reason);
  });
});

describe("ListVersionsResult", () => {
  test("versions and delete markers with their IDs, latest flags and the next markers", () => {
    const version = (key: string, id: string, latest: boolean, size: number) =>
      `<Version><Key>${key}</Key><VersionId>${id}</VersionId><IsLatest>${latest}</IsLatest><LastModified>2026-01-0${size}T00:00:00.000Z</LastModified>` +
      `<ETag>"e${size}"</ETag><Size>${size}</Size><Owner><ID>o</ID></Owner><StorageClass>STANDARD</StorageClass></Version>`;
    const xml = `<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult ${NS}><Name>b</Name><Prefix>p/</Prefix><KeyMarker></KeyMarker>` +
      `<VersionIdMarker></VersionIdMarker><NextKeyMarker>p/b</NextKeyMarker><NextVersionIdMarker>v&amp;3</NextVersionIdMarker><MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>` +
      version("p/a", "v2", true, 2) +
      `<DeleteMarker><Key>p/b</Key><VersionId>v4</VersionId><IsLatest>true</IsLatest><LastModified>2026-01-04T00:00:00.000Z</LastModified><Owner><ID>o</ID></Owner></DeleteMarker>` +
      version("p/a", "null", false, 1) +
      `</ListVersionsResult>`;
    const listing = parseVersionListing(xml);
    expect(listing).toMatchObject({ isTruncated: true, nextKeyMarker: "p/b", nextVersionIdMarker: "v&3" });
    expect(listing.versions.map(({ key, versionId, isLatest, deleteMarker, size, etag }) => ({ key, versionId, isLatest, deleteMarker, size, etag }))).toEqual([
      { key: "p/a", versionId: "v2", isLatest: true, deleteMarker: false, size: 2, etag: '"e2"' },
      { key: "p/a", versionId: "null", isLatest: false, deleteMarker: false, size: 1, etag: '"e1"' },
      { key: "p/b", versionId: "v4", isLatest: true, deleteMarker: true, size: 0, etag: "" },
    ]);
  });

  test("the last page has no next markers, and a ListBucketResult is not one", () => {
    expect(parseVersionListing(`<ListVersionsResult><IsTruncated>false</IsTruncated></ListVersionsResult>`)).toEqual({
      versions: [], isTruncated: false, nextKeyMarker: undefined, nextVersionIdMarker: undefined,
    });
    expect(() => parseVersionListing(`<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>`)).toThrow(/root element is ListBucketResult/);
  });
});

test("entities: the five named ones and character references; a bare & is refused", () => {
  expect(decodeEntities("&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#x1f600;")).toBe(`<>&"'AB\u{1F600}`);
  expect(decodeEntities("plain text")).toBe("plain text");
  expect(() => decodeEntities("AT&T")).toThrow(/bare "&"/);
  expect(() => decodeEntities("&#x110000;")).toThrow(/unknown entity/);
});
