// The aws CLI (Debian's /usr/bin/aws) against s3-overlay: the everyday commands,
// a 100 MiB multipart upload and download, metadata, and sync.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, startServer, tempDir, type RunningServer } from "./harness.js";

// Debian's package; a pyenv or pip `aws` earlier on the PATH may be another version.
const AWS = "/usr/bin/aws";
const available = existsSync(AWS);
if (!available && !process.env.CI) console.warn(`awscli.test.ts skipped: ${AWS} not found (apt-get install awscli)`);

describe.runIf(!available && Boolean(process.env.CI))("aws CLI on CI", () => {
  it("is installed", () => {
    expect.fail(`${AWS} is missing: CI must install the Debian awscli package`);
  });
});

function md5File(file: string): string {
  return createHash("md5").update(readFileSync(file)).digest("hex");
}

/** Relative paths of all files under `dir`, sorted. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe.runIf(available)("aws CLI", () => {
  let server: RunningServer;
  let work: string;
  let awsEnv: Record<string, string>;
  const bucket = `awscli-${process.pid}`;

  beforeAll(async () => {
    server = await startServer();
    work = tempDir("s3o-awscli-");
    // empty config files and a private HOME so the developer's ~/.aws does not leak in
    writeFileSync(path.join(work, "config"), "");
    writeFileSync(path.join(work, "credentials"), "");
    awsEnv = {
      ...cleanEnv(),
      HOME: work,
      AWS_CONFIG_FILE: path.join(work, "config"),
      AWS_SHARED_CREDENTIALS_FILE: path.join(work, "credentials"),
      AWS_ACCESS_KEY_ID: "minioadmin",
      AWS_SECRET_ACCESS_KEY: "minioadmin",
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_PAGER: "",
    };
  });

  afterAll(async () => {
    await server?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function aws(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(AWS, ["--endpoint-url", server.endpoint, "--output", "json", ...args], { env: awsEnv, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`aws ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stderr}`));
      }, timeoutMs);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** runs aws and expects exit 0 */
  async function awsOk(args: string[], timeoutMs?: number): Promise<string> {
    const result = await aws(args, timeoutMs);
    expect(result.code, `aws ${args.join(" ")}\n${result.stdout}\n${result.stderr}`).toBe(0);
    return result.stdout;
  }

  it("s3 mb creates the bucket and s3 ls lists it", async () => {
    expect(await awsOk(["s3", "mb", `s3://${bucket}`])).toContain(`make_bucket: ${bucket}`);
    expect(await awsOk(["s3", "ls"])).toMatch(new RegExp(`\\s${bucket}$`, "m"));
  });

  it("s3 cp uploads 100 MiB as multipart and downloads it intact", { timeout: 120_000 }, async () => {
    const upload = path.join(work, "big.bin");
    writeFileSync(upload, randomBytes(100 * 1024 * 1024));
    await awsOk(["s3", "cp", upload, `s3://${bucket}/dir/big.bin`], 100_000);

    const head = JSON.parse(await awsOk(["s3api", "head-object", "--bucket", bucket, "--key", "dir/big.bin"])) as { ContentLength: number; ETag: string };
    expect(head.ContentLength).toBe(100 * 1024 * 1024);
    expect(head.ETag, "a multipart ETag").toMatch(/^"[0-9a-f]{32}-\d+"$/);

    const download = path.join(work, "big.down");
    await awsOk(["s3", "cp", `s3://${bucket}/dir/big.bin`, download], 100_000);
    expect(md5File(download)).toBe(md5File(upload));
  });

  it("s3 cp bucket to bucket copies 100 MiB server-side in parts (UploadPartCopy)", { timeout: 120_000 }, async () => {
    // --copy-props none: only the part copies, without the tag lookup of the default (next test)
    await awsOk(["s3", "cp", `s3://${bucket}/dir/big.bin`, `s3://${bucket}/copy/big.bin`, "--copy-props", "none"], 100_000);
    const copied = JSON.parse(await awsOk(["s3api", "head-object", "--bucket", bucket, "--key", "copy/big.bin"])) as { ContentLength: number; ETag: string };
    expect(copied.ContentLength).toBe(100 * 1024 * 1024);
    expect(copied.ETag, "a multipart ETag").toMatch(/^"[0-9a-f]{32}-\d+"$/);
    const copyDownload = path.join(work, "copy.down");
    await awsOk(["s3", "cp", `s3://${bucket}/copy/big.bin`, copyDownload], 100_000);
    expect(md5File(copyDownload)).toBe(md5File(path.join(work, "big.bin")));
  });

  it("s3 cp bucket to bucket with default options (the CLI also reads the source's tags)", { timeout: 120_000 }, async () => {
    await awsOk(["s3", "cp", `s3://${bucket}/dir/big.bin`, `s3://${bucket}/copy/default.bin`], 100_000);
    const copied = JSON.parse(await awsOk(["s3api", "head-object", "--bucket", bucket, "--key", "copy/default.bin"])) as { ContentLength: number };
    expect(copied.ContentLength).toBe(100 * 1024 * 1024);
  });

  it("s3 ls lists a bucket's prefixes and a prefix's objects", async () => {
    await awsOk(["s3", "cp", path.join(work, "config"), `s3://${bucket}/top.txt`]);
    const root = await awsOk(["s3", "ls", `s3://${bucket}/`]);
    expect(root).toMatch(/^\s+PRE dir\/$/m);
    expect(root).toMatch(/\s0 top\.txt$/m);
    const dir = await awsOk(["s3", "ls", `s3://${bucket}/dir/`]);
    expect(dir).toMatch(/\s104857600 big\.bin$/m);
    expect(dir).not.toContain("top.txt");
  });

  it("s3api put-object / head-object carry user metadata and content type", async () => {
    const file = path.join(work, "meta.txt");
    writeFileSync(file, "with metadata\n");
    const put = JSON.parse(
      await awsOk(["s3api", "put-object", "--bucket", bucket, "--key", "meta.txt", "--body", file, "--metadata", "color=blue,size=xl", "--content-type", "text/plain"]),
    ) as { ETag: string };
    const md5 = createHash("md5").update("with metadata\n").digest("hex");
    expect(put.ETag).toBe(`"${md5}"`);

    const head = JSON.parse(await awsOk(["s3api", "head-object", "--bucket", bucket, "--key", "meta.txt"])) as {
      ContentLength: number;
      ContentType: string;
      ETag: string;
      Metadata: Record<string, string>;
    };
    expect(head.ContentLength).toBe(14);
    expect(head.ContentType).toBe("text/plain");
    expect(head.ETag).toBe(`"${md5}"`);
    expect(head.Metadata).toEqual({ color: "blue", size: "xl" });
  });

  it("s3 mv moves an object and s3 presign gives a URL that works without credentials", async () => {
    await awsOk(["s3", "cp", path.join(work, "meta.txt"), `s3://${bucket}/to-move.txt`]);
    expect(await awsOk(["s3", "mv", `s3://${bucket}/to-move.txt`, `s3://${bucket}/moved.txt`])).toContain("move:");
    const listing = await awsOk(["s3", "ls", `s3://${bucket}/`]);
    expect(listing).toContain("moved.txt");
    expect(listing).not.toContain("to-move.txt");

    const url = (await awsOk(["s3", "presign", `s3://${bucket}/moved.txt`, "--expires-in", "300"])).trim();
    expect(url).toMatch(/X-Amz-Signature=/);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("with metadata\n");
  });

  it("s3 sync uploads a directory, a second sync uploads nothing, and a sync back reproduces it", async () => {
    const source = path.join(work, "sync-src");
    mkdirSync(path.join(source, "sub", "deeper"), { recursive: true });
    writeFileSync(path.join(source, "a.txt"), "a\n");
    writeFileSync(path.join(source, "with space.txt"), "space\n");
    writeFileSync(path.join(source, "sub", "b.txt"), "b\n");
    writeFileSync(path.join(source, "sub", "deeper", "c.bin"), randomBytes(300 * 1024));

    const first = await awsOk(["s3", "sync", source, `s3://${bucket}/sync/`]);
    expect(first.match(/^upload: /gm)).toHaveLength(4);
    const listed = await awsOk(["s3", "ls", "--recursive", `s3://${bucket}/sync/`]);
    for (const key of ["sync/a.txt", "sync/with space.txt", "sync/sub/b.txt", "sync/sub/deeper/c.bin"]) expect(listed).toContain(key);

    expect(await awsOk(["s3", "sync", source, `s3://${bucket}/sync/`])).toBe("");

    const target = path.join(work, "sync-dst");
    await awsOk(["s3", "sync", `s3://${bucket}/sync/`, target]);
    expect(filesUnder(target)).toEqual(filesUnder(source));
    for (const file of filesUnder(source)) expect(md5File(path.join(target, file)), file).toBe(md5File(path.join(source, file)));
  });

  it("s3 rm deletes, s3 rb refuses a non-empty bucket, then removes an empty one", async () => {
    expect(await awsOk(["s3", "rm", `s3://${bucket}/dir/big.bin`])).toContain(`delete: s3://${bucket}/dir/big.bin`);
    expect(await awsOk(["s3", "ls", `s3://${bucket}/`])).not.toContain("PRE dir/");

    const refused = await aws(["s3", "rb", `s3://${bucket}`]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("BucketNotEmpty");

    await awsOk(["s3", "rm", "--recursive", `s3://${bucket}/`]);
    expect(await awsOk(["s3", "rb", `s3://${bucket}`])).toContain(`remove_bucket: ${bucket}`);
    expect(await awsOk(["s3", "ls"])).not.toContain(bucket);
  });
});
