// A throwaway endpoint for protocol tests: a node:http server with the test's
// handler, and an S3Client (path style, fixed test credentials, no retries) aimed at it.
import { createServer, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import { S3Client } from "@aws-sdk/client-s3";

export interface SdkEndpoint {
  client: S3Client;
  close(): Promise<void>;
}

export async function startSdkEndpoint(handle: RequestListener): Promise<SdkEndpoint> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  return {
    client,
    close: async () => {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
