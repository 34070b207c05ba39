// Request bodies: plain or aws-chunked, decoded as a stream and verified before
// the stream ends (length, x-amz-content-sha256, chunk signatures, Content-MD5,
// x-amz-checksum-* in a header or trailer). A consumer that sees 'end' has the
// complete, verified object bytes; on any mismatch the stream errors instead.
// What a body must be is planned from its headers in payload-plan.ts.
import { createHash, type Hash } from "node:crypto";
import { finished, Transform, type Readable, type TransformCallback } from "node:stream";
import type { ChecksumAlgorithm } from "./model.js";
import { checksumHeaderName, createChecksum, DIGEST_LENGTH, type IncrementalChecksum } from "./checksums.js";
import { isS3Error, S3Error } from "./errors.js";
import { decodeBase64Digest, type PayloadPlan } from "./payload-plan.js";
import { EMPTY_SHA256, hmacHex, signaturesEqual } from "./sigv4.js";
import { md5, type Md5 } from "../digests.js";

export { planPayload, type PayloadPlan } from "./payload-plan.js";

export interface PayloadDigests {
  size: number;
  md5: Buffer;
  checksum?: { algorithm: ChecksumAlgorithm; value: string /* base64 */ };
}

export function decodePayload(body: Readable, plan: PayloadPlan): { data: Readable; digests(): PayloadDigests } {
  const decoder = plan.chunked === undefined ? new PlainDecoder(plan) : new ChunkedDecoder(plan, plan.chunked);
  body.pipe(decoder);
  // pipe() does not forward errors or an aborted client: fail the decoded stream instead of hanging.
  finished(body, { writable: false }, (error) => {
    if (error !== undefined && error !== null && !decoder.destroyed) decoder.destroy(isS3Error(error) ? error : incompleteBody());
  });
  // The consumer may attach (pipeline, for-await) only after some awaits, and a short
  // body can fail verification before that: without a listener that would crash the
  // process. Consumers still see the error: pipeline/finished report an errored stream.
  decoder.on("error", () => undefined);
  return { data: decoder, digests: () => decoder.digests() };
}

function incompleteBody(): S3Error {
  return new S3Error("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.");
}

function malformedChunk(why: string): S3Error {
  return new S3Error("InvalidArgument", `Malformed aws-chunked body: ${why}`);
}

/** Hashes and counts the decoded bytes, and checks them against the plan at the end. */
abstract class VerifyingDecoder extends Transform {
  private size = 0;
  private readonly md5: Md5;
  private readonly sha256: Hash | undefined;
  private readonly checksum: IncrementalChecksum | undefined;
  private result: PayloadDigests | undefined;

  constructor(protected readonly plan: PayloadPlan) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.md5 = md5(plan.decodedLength);
    this.sha256 = plan.sha256 !== undefined ? createHash("sha256") : undefined;
    this.checksum = plan.checksum !== undefined ? createChecksum(plan.checksum.algorithm) : undefined;
  }

  digests(): PayloadDigests {
    if (this.result === undefined) throw new Error("payload digests are only known once the decoded stream has ended");
    return this.result;
  }

  /** Passes object bytes downstream (no copy) and into the hashes. */
  protected pass(data: Buffer): void {
    this.size += data.length;
    if (this.plan.decodedLength !== undefined && this.size > this.plan.decodedLength) throw incompleteBody();
    this.md5.update(data);
    this.sha256?.update(data);
    this.checksum?.update(data);
    this.push(data);
  }

  /** Calls back once the MD5 can take more bytes: its worker's queue bounds memory, not this stream's buffers. */
  protected afterHashing(callback: TransformCallback): void {
    const ready = this.md5.ready();
    // ready() does not reject today; if it ever does, the body fails instead of waiting for a callback forever
    if (ready !== undefined) ready.then(() => callback(), (error: Error) => callback(error));
    else callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.result === undefined) this.md5.cancel();
    callback(error);
  }

  /** Final checks; `trailerChecksum` is the base64 value from the trailer, if the plan expects one there. */
  protected async verify(trailerChecksum?: string): Promise<void> {
    if (this.plan.decodedLength !== undefined && this.size !== this.plan.decodedLength) throw incompleteBody();
    if (this.sha256 !== undefined) {
      const computed = this.sha256.digest("hex");
      if (computed !== this.plan.sha256) {
        throw new S3Error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", {
          ClientComputedContentSHA256: this.plan.sha256 ?? "",
          S3ComputedContentSHA256: computed,
        });
      }
    }
    const md5 = await this.md5.digest();
    if (this.plan.md5 !== undefined && !md5.equals(this.plan.md5)) {
      throw new S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", {
        ExpectedDigest: this.plan.md5.toString("base64"),
        CalculatedDigest: md5.toString("base64"),
      });
    }
    let checksum: PayloadDigests["checksum"];
    if (this.plan.checksum !== undefined && this.checksum !== undefined) {
      const { algorithm } = this.plan.checksum;
      const value = this.checksum.digest().toString("base64");
      const expected = this.plan.checksum.expected ?? trailerChecksum;
      if (expected === undefined || decodeBase64Digest(expected, DIGEST_LENGTH[algorithm]) === undefined) {
        throw new S3Error("InvalidRequest", `Value for ${checksumHeaderName(algorithm)} trailing header is invalid.`);
      }
      if (expected !== value) throw new S3Error("BadDigest", `The ${algorithm} you specified did not match the calculated checksum.`);
      checksum = { algorithm, value };
    }
    this.result = { size: this.size, md5, checksum };
  }
}

class PlainDecoder extends VerifyingDecoder {
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.pass(chunk);
    } catch (error) {
      return callback(error as Error);
    }
    this.afterHashing(callback);
  }

  override _flush(callback: TransformCallback): void {
    this.verify().then(() => callback(), (error: Error) => callback(error));
  }
}

const CR = 0x0d;
const LF = 0x0a;
const MAX_LINE = 4096;
const MAX_TRAILER = 16 * 1024;
const CHUNK_HEADER = /^([0-9a-fA-F]{1,13})(;.*)?$/;
const CHUNK_SIGNATURE = /^;chunk-signature=([0-9a-f]{64})$/;

type ChunkState = "header" | "data" | "data-end" | "trailer" | "done";

/**
 * aws-chunked: `hex-size[;chunk-signature=sig]\r\n data \r\n ... 0[;chunk-signature=sig]\r\n [trailers\r\n] \r\n`.
 * Parsed incrementally: only the current header/trailer line is ever buffered; data passes through as subarrays.
 */
class ChunkedDecoder extends VerifyingDecoder {
  private state: ChunkState = "header";
  private line: Buffer[] = [];
  private lineLength = 0;
  private trailerBytes = 0;
  private remaining = 0;
  private crlfSeen = 0;
  private chunkSignature = "";
  private chunkHash: Hash | undefined;
  private previousSignature: string;
  private readonly trailerValues = new Map<string, string>();
  private trailerSignature: string | undefined;

  constructor(
    plan: PayloadPlan,
    private readonly chunked: NonNullable<PayloadPlan["chunked"]>,
  ) {
    super(plan);
    this.previousSignature = chunked.signing?.seedSignature ?? "";
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.parse(chunk);
    } catch (error) {
      return callback(error as Error);
    }
    this.afterHashing(callback);
  }

  override _flush(callback: TransformCallback): void {
    try {
      // Tolerate a body that ends right after the last trailer line without the final empty line.
      if (!(this.state === "done" || (this.state === "trailer" && this.lineLength === 0))) throw incompleteBody();
      this.verifyTrailer();
      const checksumTrailer = this.plan.checksum !== undefined ? checksumHeaderName(this.plan.checksum.algorithm) : undefined;
      this.verify(checksumTrailer !== undefined ? this.trailerValues.get(checksumTrailer) : undefined).then(() => callback(), (error: Error) => callback(error));
    } catch (error) {
      callback(error as Error);
    }
  }

  private parse(chunk: Buffer): void {
    let position = 0;
    while (position < chunk.length) {
      switch (this.state) {
        case "header":
        case "trailer": {
          const end = this.readLine(chunk, position);
          if (end < 0) return;
          position = end;
          const line = this.takeLine();
          if (this.state === "header") this.onChunkHeader(line);
          else this.onTrailerLine(line);
          break;
        }
        case "data": {
          const take = Math.min(this.remaining, chunk.length - position);
          const data = chunk.subarray(position, position + take);
          this.chunkHash?.update(data);
          this.pass(data);
          position += take;
          this.remaining -= take;
          if (this.remaining === 0) this.endChunkData();
          break;
        }
        case "data-end": {
          const expected = this.crlfSeen === 0 ? CR : LF;
          if (chunk[position] !== expected) throw malformedChunk("chunk data is not followed by CRLF");
          position++;
          if (++this.crlfSeen === 2) this.state = "header";
          break;
        }
        case "done":
          throw malformedChunk("data after the final chunk");
      }
    }
  }

  /** Buffers bytes up to and including LF; returns the position after it, or -1 when the line continues in the next read. */
  private readLine(chunk: Buffer, position: number): number {
    const newline = chunk.indexOf(LF, position);
    const end = newline < 0 ? chunk.length : newline + 1;
    this.lineLength += end - position;
    if (this.lineLength > MAX_LINE) throw malformedChunk("line too long");
    this.line.push(chunk.subarray(position, end));
    return newline < 0 ? -1 : end;
  }

  /** The buffered line without its CRLF. */
  private takeLine(): string {
    const line = this.line.length === 1 ? this.line[0] : Buffer.concat(this.line);
    this.line = [];
    this.lineLength = 0;
    if (line.length < 2 || line[line.length - 2] !== CR) throw malformedChunk("line does not end in CRLF");
    return line.toString("latin1", 0, line.length - 2);
  }

  private onChunkHeader(line: string): void {
    const match = CHUNK_HEADER.exec(line);
    if (match === null) throw malformedChunk("invalid chunk header");
    const size = parseInt(match[1], 16);
    if (this.chunked.signing !== undefined) {
      const signature = CHUNK_SIGNATURE.exec(match[2] ?? "");
      if (signature === null) throw malformedChunk("missing chunk-signature");
      this.chunkSignature = signature[1];
      this.chunkHash = createHash("sha256");
    }
    this.remaining = size;
    if (size === 0) {
      this.verifyChunkSignature();
      this.state = "trailer";
    } else {
      this.state = "data";
    }
  }

  private endChunkData(): void {
    this.verifyChunkSignature();
    this.crlfSeen = 0;
    this.state = "data-end";
  }

  private verifyChunkSignature(): void {
    const signing = this.chunked.signing;
    if (signing === undefined) return;
    const chunkHash = this.chunkHash!.digest("hex");
    const stringToSign = `AWS4-HMAC-SHA256-PAYLOAD\n${signing.amzDate}\n${signing.scope}\n${this.previousSignature}\n${EMPTY_SHA256}\n${chunkHash}`;
    const expected = hmacHex(signing.signingKey, stringToSign);
    if (!signaturesEqual(expected, this.chunkSignature)) throw chunkSignatureMismatch();
    this.previousSignature = expected;
  }

  private onTrailerLine(line: string): void {
    if (line === "") {
      this.state = "done";
      return;
    }
    this.trailerBytes += line.length;
    if (this.trailerBytes > MAX_TRAILER) throw malformedChunk("trailer too long");
    const colon = line.indexOf(":");
    if (colon <= 0) throw malformedTrailer();
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "x-amz-trailer-signature") this.trailerSignature = value;
    else this.trailerValues.set(name, value);
  }

  private verifyTrailer(): void {
    for (const name of this.chunked.trailers) {
      if (!this.trailerValues.has(name)) throw malformedTrailer();
    }
    const signing = this.chunked.signing;
    if (!this.chunked.trailerSigned || signing === undefined) return;
    if (this.trailerSignature === undefined) throw malformedTrailer();
    const canonical = [...this.trailerValues.keys()]
      .sort()
      .map((name) => `${name}:${this.trailerValues.get(name)}\n`)
      .join("");
    const trailerHash = createHash("sha256").update(canonical).digest("hex");
    const stringToSign = `AWS4-HMAC-SHA256-TRAILER\n${signing.amzDate}\n${signing.scope}\n${this.previousSignature}\n${trailerHash}`;
    if (!signaturesEqual(hmacHex(signing.signingKey, stringToSign), this.trailerSignature)) throw chunkSignatureMismatch();
  }
}

function chunkSignatureMismatch(): S3Error {
  return new S3Error(
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
  );
}

// Not in AWS's common table but what S3 answers for a bad or missing trailer (status 400).
function malformedTrailer(): S3Error {
  return new S3Error("MalformedTrailerError", "The request contained trailing data that was not well-formed or did not conform to our published schema.");
}
