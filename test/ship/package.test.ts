// The npm package as users get it: `npm pack`, installed into an empty directory, and
// `npx s3-overlay serve` answering /health and a signed PUT/GET. Slow: a real npm install
// (from the local cache where it can, --prefer-offline).
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, ROOT, tempDir } from "../e2e/harness.js";

const run = promisify(execFile);
const built = existsSync(path.join(ROOT, "dist/cli/index.js"));
// node:sqlite (Node 22.13+) is what the package runs on; it does not ship better-sqlite3
const hasNodeSqlite = process.getBuiltinModule?.("node:sqlite") !== undefined;
// npm, npx and the installed bin run on this test's node (CI runs the suite on two versions), and
// without the npm_* settings `npm test` exports for this repo (its prefix among them)
const env = {
  ...Object.fromEntries(Object.entries(cleanEnv()).filter(([name]) => !name.toLowerCase().startsWith("npm_"))),
  PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
};

interface PackedFile {
  path: string;
}

describe.skipIf(!built)("npm package", () => {
  let files: string[] = [];
  let installDir = "";
  const dirs: string[] = [];
  let installMs = 0;

  beforeAll(async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json"], { cwd: ROOT, env });
    files = (JSON.parse(stdout) as { files: PackedFile[] }[])[0]!.files.map((file) => file.path);

    const packDir = tempDir("s3o-pack-");
    dirs.push(packDir);
    const packed = await run("npm", ["pack", "--json", "--pack-destination", packDir], { cwd: ROOT, env });
    const tarball = path.join(packDir, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
    installDir = tempDir("s3o-install-");
    dirs.push(installDir);
    // its own package.json, so npm does not walk up to an enclosing project
    writeFileSync(path.join(installDir, "package.json"), JSON.stringify({ private: true }));
    const started = Date.now();
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: installDir, env, timeout: 300_000 });
    installMs = Date.now() - started;
    console.log(`npm install of the tarball on ${process.version}: ${(installMs / 1000).toFixed(1)} s`);
  }, 320_000);

  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("ships only what runs: compiled JS, the bin, README, LICENSE; no source maps or tests", () => {
    expect(files).toContain("bin/s3-overlay.js");
    expect(files).toContain("dist/cli/index.js");
    expect(files).toContain("package.json");
    expect(files.filter((file) => file.endsWith(".map"))).toEqual([]);
    expect(files.filter((file) => /^(src|test)\//.test(file) || /\.test\.|\.ts$/.test(file))).toEqual([]);
    expect(files.filter((file) => !/^(bin|dist)\/.*\.js$|^(package\.json|README\.md|LICENSE)$/.test(file))).toEqual([]);
  });

  it("installs without compiling anything", () => {
    const installed = readdirSync(path.join(installDir, "node_modules"));
    expect(installed).toContain("s3-overlay");
    expect(installed).not.toContain("better-sqlite3");
  });

  it.skipIf(!hasNodeSqlite)("`npx s3-overlay serve` answers /health and a signed PUT and GET", async () => {
    const dataDir = tempDir("s3o-npx-data-");
    dirs.push(dataDir);
    // its own process group: npx runs serve as a child, and both must go at the end
    const child = spawn("npx", ["--no", "s3-overlay", "serve", "--port", "0", "--data-dir", dataDir], { cwd: installDir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line in 30 s: ${output}`)), 30_000);
        child.stderr.on("data", () => {
          const match = /listening on http:\/\/[^\s:]+:(\d+)/.exec(output);
          if (match) {
            clearTimeout(timer);
            resolve(Number(match[1]));
          }
        });
        child.once("exit", (code) => reject(new Error(`npx exited ${code}: ${output}`)));
      });
      expect(output).not.toMatch(/Warning/);
      const endpoint = `http://127.0.0.1:${port}`;
      expect((await fetch(`${endpoint}/health`)).status).toBe(200);

      const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "minioadmin", secretAccessKey: "minioadmin" } });
      await client.send(new CreateBucketCommand({ Bucket: "pkg" }));
      await client.send(new PutObjectCommand({ Bucket: "pkg", Key: "hello.txt", Body: "hello from the tarball" }));
      const got = await client.send(new GetObjectCommand({ Bucket: "pkg", Key: "hello.txt" }));
      expect(await got.Body!.transformToString()).toBe("hello from the tarball");
      client.destroy();
    } finally {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
    }
  }, 60_000);

  it.skipIf(hasNodeSqlite)("on a runtime without node:sqlite, serve says which Node it needs", async () => {
    const bin = path.join(installDir, "node_modules/.bin/s3-overlay");
    const dataDir = tempDir("s3o-old-node-");
    dirs.push(dataDir);
    const result = await run(process.execPath, [bin, "serve", "--port", "0", "--data-dir", dataDir], { cwd: installDir, env }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect((result as { code: number }).code).not.toBe(0);
    expect((result as { stderr: string }).stderr).toMatch(/needs Node\.js 22\.13 or later/);
  }, 60_000);
});
