// serve --https: a self-signed certificate kept in the data dir, trusted by a
// client told to trust it, the same across restarts; cache commands reach the
// HTTPS serve through its admin API; a certificate of one's own works too.
import { readFileSync, rmSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, describe, expect, it } from "vitest";
import { ACCESS_KEY, SECRET_KEY, runCli, startServer, storeEnv, tempDir } from "./harness.js";

function httpsClient(endpoint: string, ca: string): S3Client {
  return new S3Client({
    endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    requestHandler: { httpsAgent: new https.Agent({ ca }) },
  });
}

describe("serve --https", () => {
  const dataDir = tempDir("s3o-https-");
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("serves S3 over TLS with a certificate clients can trust, kept across restarts", async () => {
    let server = await startServer({ dataDir, args: ["--https"] });
    let certificate: string;
    try {
      expect(server.stderr()).toMatch(/listening on https:\/\/127\.0\.0\.1:\d+/);
      certificate = readFileSync(path.join(dataDir, "tls", "cert.pem"), "utf8");
      expect(certificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
      const client = httpsClient(server.endpoint, certificate);
      await client.send(new CreateBucketCommand({ Bucket: "secure" }));
      await client.send(new PutObjectCommand({ Bucket: "secure", Key: "k.txt", Body: "over tls" }));
      expect(await (await client.send(new GetObjectCommand({ Bucket: "secure", Key: "k.txt" }))).Body!.transformToString()).toBe("over tls");
      client.destroy();
      // a client that does not trust the certificate is refused by TLS, not served
      const untrusted = new S3Client({ endpoint: server.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }, maxAttempts: 1 });
      await expect(untrusted.send(new GetObjectCommand({ Bucket: "secure", Key: "k.txt" }))).rejects.toThrow(/certificate/i);
      untrusted.destroy();
      // status goes through the HTTPS admin API, trusting the data dir's certificate
      const status = await runCli(["status", "--json", "--data-dir", dataDir], await storeEnv());
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).server).toBeDefined();
    } finally {
      await server.stop();
    }
    server = await startServer({ dataDir, args: ["--https"] });
    try {
      expect(readFileSync(path.join(dataDir, "tls", "cert.pem"), "utf8")).toBe(certificate);
      const client = httpsClient(server.endpoint, certificate);
      expect(await (await client.send(new GetObjectCommand({ Bucket: "secure", Key: "k.txt" }))).Body!.transformToString()).toBe("over tls");
      client.destroy();
    } finally {
      await server.stop();
    }
  });

  it("--tls-cert without --tls-key exits 2 naming both", async () => {
    const result = await runCli(["serve", "--port", "0", "--data-dir", dataDir, "--tls-cert", "/nonexistent.pem"], {}, 15_000);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--tls-cert.*S3_OVERLAY_TLS_KEY/);
  });
});
