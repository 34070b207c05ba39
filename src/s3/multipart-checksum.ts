// Checksums of multipart uploads as S3 keeps them. CreateMultipartUpload picks an
// algorithm and a type: COMPOSITE (the checksum of the concatenated binary part
// checksums, shown as "<base64>-N") or FULL_OBJECT (the CRC of the whole object,
// combined from the parts' CRCs). Every part then carries that algorithm, and
// CompleteMultipartUpload checks what the client states against what was stored.
import { checksumHeaderName, compositeChecksum, DIGEST_LENGTH } from "./checksums.js";
import { combineDigests, isCrcAlgorithm } from "./crc-combine.js";
import { S3Error } from "./errors.js";
import type { Checksum, ChecksumAlgorithm, PartInfo, UploadInfo } from "./model.js";

type ChecksumType = Checksum["type"];

/** The algorithm and type of a new upload (x-amz-checksum-algorithm, x-amz-checksum-type), checked as S3 does. */
export function uploadChecksumMode(
  algorithm: ChecksumAlgorithm | undefined, typeHeader: string | undefined,
): { checksumAlgorithm: ChecksumAlgorithm; checksumType: ChecksumType } | undefined {
  const type = typeHeader === undefined || typeHeader === "" ? undefined : typeHeader.toUpperCase();
  if (type !== undefined && type !== "COMPOSITE" && type !== "FULL_OBJECT") {
    throw new S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.");
  }
  if (algorithm === undefined) {
    if (type !== undefined) throw new S3Error("InvalidRequest", "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.");
    return undefined;
  }
  const checksumType = type ?? defaultType(algorithm);
  if (checksumType === "FULL_OBJECT" ? !isCrcAlgorithm(algorithm) : algorithm === "CRC64NVME") {
    throw new S3Error("InvalidRequest", `The ${checksumType} checksum type cannot be used with the ${algorithm.toLowerCase()} checksum algorithm.`);
  }
  return { checksumAlgorithm: algorithm, checksumType };
}

/** CRC64NVME exists only as a full-object checksum; the others default to COMPOSITE. */
function defaultType(algorithm: ChecksumAlgorithm): ChecksumType {
  return algorithm === "CRC64NVME" ? "FULL_OBJECT" : "COMPOSITE";
}

/** The upload's checksum type; an upload of an older catalog has none recorded: the default for its algorithm. */
export function checksumTypeOf(upload: UploadInfo): ChecksumType | undefined {
  return upload.checksumAlgorithm && (upload.checksumType ?? defaultType(upload.checksumAlgorithm));
}

/** UploadPart to an upload made with an algorithm must carry a checksum of that algorithm (checked before the body is read). */
export function requirePartChecksum(upload: UploadInfo, sent: ChecksumAlgorithm | undefined): void {
  const wanted = upload.checksumAlgorithm;
  if (wanted !== undefined && sent !== wanted) {
    throw new S3Error("InvalidRequest", `Checksum Type mismatch occurred, expected checksum Type: ${wanted.toLowerCase()}, actual checksum Type: ${sent?.toLowerCase() ?? "null"}`);
  }
}

/** What a CompleteMultipartUpload states: its listed parts' checksums, and headers for the whole object. */
export interface StatedChecksums {
  parts: { partNumber: number; checksums?: Partial<Record<ChecksumAlgorithm, string>> }[];
  /** x-amz-checksum-<algorithm> of the whole object */
  object?: { algorithm: ChecksumAlgorithm; value: string };
  /** x-amz-checksum-type */
  type?: string;
}

/**
 * The object's checksum at CompleteMultipartUpload (`parts`: the chosen stored parts, in order),
 * after checking what the client stated: a part checksum that differs from the stored one is
 * InvalidPart, a whole-object checksum that differs is BadDigest, another algorithm or type
 * than the upload's is InvalidRequest. Undefined for an upload made without an algorithm.
 */
export function completedChecksum(upload: UploadInfo, parts: PartInfo[], stated: StatedChecksums): Checksum | undefined {
  const algorithm = upload.checksumAlgorithm;
  const type = checksumTypeOf(upload);
  if (algorithm === undefined || type === undefined) {
    if (stated.object !== undefined || stated.type !== undefined) {
      throw new S3Error("InvalidRequest", "The upload was created without a checksum algorithm: the complete request cannot state an object checksum.");
    }
    return undefined;
  }
  if (stated.type !== undefined && stated.type.toUpperCase() !== type) {
    throw new S3Error("InvalidRequest", `The upload was created using the ${type} checksum mode. The complete request must use the same checksum mode.`);
  }
  if (stated.object !== undefined && stated.object.algorithm !== algorithm) {
    throw new S3Error("InvalidRequest", `The upload was created using a ${algorithm.toLowerCase()} checksum. The complete request must use the same checksum algorithm.`);
  }
  parts.forEach((part, index) => checkListedPart(algorithm, type, part, stated.parts[index]?.checksums ?? {}));
  const digests = parts.map((part) => Buffer.from(part.checksum!.value, "base64"));
  // FULL_OBJECT exists only for CRCs (uploadChecksumMode)
  const value = type === "FULL_OBJECT" && isCrcAlgorithm(algorithm)
    ? combineDigests(algorithm, parts.map((part, index) => ({ digest: digests[index]!, size: part.size }))).toString("base64")
    : compositeChecksum(algorithm, digests);
  if (stated.object !== undefined && !sameChecksum(stated.object.value, value)) {
    throw new S3Error("BadDigest", `The ${algorithm.toLowerCase()} you specified did not match the calculated checksum.`);
  }
  return { algorithm, value, type };
}

function checkListedPart(algorithm: ChecksumAlgorithm, type: ChecksumType, part: PartInfo, listed: Partial<Record<ChecksumAlgorithm, string>>): void {
  const other = (Object.keys(listed) as ChecksumAlgorithm[]).find((name) => name !== algorithm);
  if (other !== undefined) {
    throw new S3Error("InvalidRequest", `The upload was created using a ${algorithm.toLowerCase()} checksum. The complete request must use the same checksum algorithm, not ${other.toLowerCase()} (part ${part.partNumber}).`);
  }
  const value = listed[algorithm];
  // a FULL_OBJECT complete may leave the part checksums out; a COMPOSITE one lists every part's
  if (value === undefined && type === "COMPOSITE") {
    throw new S3Error("InvalidRequest", `The upload was created using a ${algorithm.toLowerCase()} checksum. The complete request must include the checksum for each part. It was missing for part ${part.partNumber} in the request.`);
  }
  // a part uploaded before its upload required a checksum (older data dir) cannot be checked
  if (part.checksum?.algorithm !== algorithm || Buffer.from(part.checksum.value, "base64").length !== DIGEST_LENGTH[algorithm]) {
    throw new S3Error("InvalidPart", `Part ${part.partNumber} has no ${checksumHeaderName(algorithm)} to complete the upload with.`, { PartNumber: String(part.partNumber) });
  }
  if (value !== undefined && value !== part.checksum.value) {
    throw new S3Error("InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.", { PartNumber: String(part.partNumber) });
  }
}

/** A stated COMPOSITE checksum may come with or without its "-N". */
function sameChecksum(stated: string, computed: string): boolean {
  return stated === computed || stated === computed.replace(/-\d+$/, "");
}
