// The admin API's check of request bodies: defaults for left-out fields, and a
// 400 InvalidArgument naming the field for anything the CLI would never send.
import { describe, expect, it } from "vitest";
import { S3Error } from "../../src/s3/errors.js";
import { isAdminCommand, readAdminRequest } from "../../src/server/admin-requests.js";

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(S3Error);
    expect((error as S3Error).code).toBe("InvalidArgument");
    return (error as S3Error).message;
  }
  throw new Error("expected a refusal");
}

describe("admin request bodies", () => {
  it("left-out fields take the CLI's defaults", () => {
    expect(readAdminRequest("evict", "{}")).toEqual({ scope: {}, chunksOnly: false, tombstones: false, clientWrites: false, dryRun: false });
    expect(readAdminRequest("warm", "")).toEqual({ targets: [], keys: [], include: [], exclude: [], concurrency: 8, dryRun: false, lock: false });
    expect(readAdminRequest("warm", '{"targets":[{"bucket":"data"}]}').targets).toEqual([{ bucket: "data", prefix: "" }]);
    expect(readAdminRequest("status", '{"gc":true}')).toEqual({ scope: {}, gc: true });
  });

  it("names the field that is wrong", () => {
    expect(refusal(() => readAdminRequest("evict", '{"dryRun":"yes"}'))).toMatch(/field dryRun must be true or false/);
    expect(refusal(() => readAdminRequest("evict", '{"scope":{"bucket":"Bad_Name"}}'))).toMatch(/field scope\.bucket "Bad_Name" is not a valid bucket name/);
    expect(refusal(() => readAdminRequest("warm", '{"targets":[{"bucket":"data","prefix":3}]}'))).toMatch(/field targets\[0\]\.prefix must be a string/);
    expect(refusal(() => readAdminRequest("warm", '{"concurrency":257}'))).toMatch(/field concurrency must be an integer from 1 to 256/);
    expect(refusal(() => readAdminRequest("warm", '{"chunks":[{"kind":"head","bytes":-1}]}'))).toMatch(/chunks\[0\]\.bytes/);
    expect(refusal(() => readAdminRequest("evict", '{"toSize":1.5}'))).toMatch(/toSize/);
  });

  it("refuses fields no request has, such as the raw flags of older CLIs", () => {
    expect(refusal(() => readAdminRequest("reset", '{"flags":{"dryRun":true}}'))).toMatch(/has no field "flags"/);
    expect(refusal(() => readAdminRequest("status", '{"scope":{"bucket":"data","extra":1}}'))).toMatch(/field scope has no field "extra"/);
  });

  it("refuses what is not a JSON object", () => {
    for (const body of ["null", "[]", "5", '"x"', "{"]) refusal(() => readAdminRequest("diff", body));
  });

  it("knows its commands and nothing inherited", () => {
    expect(["status", "evict", "warm", "verify", "diff", "reset"].every(isAdminCommand)).toBe(true);
    expect(isAdminCommand("toString")).toBe(false);
    expect(isAdminCommand("serve")).toBe(false);
  });
});
