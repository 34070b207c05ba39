import { describe, expect, it } from "vitest";
import { createChecksum } from "../../src/s3/checksums.js";
import { checksumTypeOf, completedChecksum, requirePartChecksum, uploadChecksumMode } from "../../src/s3/multipart-checksum.js";
import type { ChecksumAlgorithm, PartInfo, UploadInfo } from "../../src/s3/model.js";

const upload = (checksumAlgorithm?: ChecksumAlgorithm, checksumType?: "COMPOSITE" | "FULL_OBJECT"): UploadInfo => ({
  uploadId: "u", bucket: "b", key: "k", initiated: new Date(0), headers: {}, userMetadata: {},
  ...(checksumAlgorithm && { checksumAlgorithm }), ...(checksumType && { checksumType }),
});

function part(partNumber: number, data: string, algorithm: ChecksumAlgorithm): PartInfo {
  const checksum = createChecksum(algorithm);
  checksum.update(Buffer.from(data));
  return { partNumber, size: data.length, etag: "e", lastModified: new Date(0), checksum: { algorithm, value: checksum.digest().toString("base64"), type: "FULL_OBJECT" } };
}

const codeOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe("uploadChecksumMode", () => {
  it("defaults CRC64NVME to FULL_OBJECT and the others to COMPOSITE; takes the type case-insensitively", () => {
    expect(uploadChecksumMode("CRC64NVME", undefined)).toEqual({ checksumAlgorithm: "CRC64NVME", checksumType: "FULL_OBJECT" });
    expect(uploadChecksumMode("SHA1", undefined)).toEqual({ checksumAlgorithm: "SHA1", checksumType: "COMPOSITE" });
    expect(uploadChecksumMode("CRC32", "full_object")).toEqual({ checksumAlgorithm: "CRC32", checksumType: "FULL_OBJECT" });
    expect(uploadChecksumMode(undefined, undefined)).toBeUndefined();
  });

  it("refuses pairs S3 does not make, a type alone, and an unknown type", () => {
    expect(codeOf(() => uploadChecksumMode("SHA256", "FULL_OBJECT"))).toBe("InvalidRequest");
    expect(codeOf(() => uploadChecksumMode("CRC64NVME", "COMPOSITE"))).toBe("InvalidRequest");
    expect(codeOf(() => uploadChecksumMode(undefined, "COMPOSITE"))).toBe("InvalidRequest");
    expect(codeOf(() => uploadChecksumMode("CRC32", "WHOLE"))).toBe("InvalidRequest");
  });
});

describe("an upload from a catalog without checksum types", () => {
  it("has its algorithm's default type", () => {
    expect(checksumTypeOf(upload("CRC64NVME"))).toBe("FULL_OBJECT");
    expect(checksumTypeOf(upload("CRC32"))).toBe("COMPOSITE");
    expect(checksumTypeOf(upload())).toBeUndefined();
  });
});

describe("requirePartChecksum", () => {
  it("wants the upload's algorithm, when it has one", () => {
    expect(codeOf(() => requirePartChecksum(upload("CRC32"), undefined))).toBe("InvalidRequest");
    expect(codeOf(() => requirePartChecksum(upload("CRC32"), "CRC32C"))).toBe("InvalidRequest");
    expect(codeOf(() => requirePartChecksum(upload("CRC32"), "CRC32"))).toBeUndefined();
    expect(codeOf(() => requirePartChecksum(upload(), "SHA1"))).toBeUndefined();
  });
});

describe("completedChecksum", () => {
  const parts = [part(1, "hello ", "CRC32"), part(2, "world", "CRC32")];

  it("FULL_OBJECT is the CRC of the concatenation; COMPOSITE the CRC of the part CRCs, -N", () => {
    const whole = createChecksum("CRC32");
    whole.update(Buffer.from("hello world"));
    expect(completedChecksum(upload("CRC32", "FULL_OBJECT"), parts, { parts: [] })).toEqual({ algorithm: "CRC32", type: "FULL_OBJECT", value: whole.digest().toString("base64") });
    const ofParts = createChecksum("CRC32");
    for (const one of parts) ofParts.update(Buffer.from(one.checksum!.value, "base64"));
    const listed = parts.map((one) => ({ partNumber: one.partNumber, checksums: { CRC32: one.checksum!.value } }));
    expect(completedChecksum(upload("CRC32"), parts, { parts: listed })).toEqual({ algorithm: "CRC32", type: "COMPOSITE", value: `${ofParts.digest().toString("base64")}-2` });
  });

  it("an upload without an algorithm has none, and takes no stated object checksum", () => {
    expect(completedChecksum(upload(), parts, { parts: [] })).toBeUndefined();
    expect(codeOf(() => completedChecksum(upload(), parts, { parts: [], object: { algorithm: "CRC32", value: "AAAAAA==" } }))).toBe("InvalidRequest");
  });

  it("a stored part without the upload's checksum cannot be completed (InvalidPart)", () => {
    const bare = [{ ...parts[0]!, checksum: undefined }, parts[1]!];
    expect(codeOf(() => completedChecksum(upload("CRC32", "FULL_OBJECT"), bare, { parts: [] }))).toBe("InvalidPart");
  });
});
