// The SDK client for the control calls the S3 local tier makes (bucket setup,
// listings of its cache bucket, multipart bookkeeping), with the endpoint,
// credentials and bounds of the upstream client it belongs to. Kept out of
// client.ts so the remote, which needs no SDK, does not load it (~300 ms of imports).
import { S3Client } from "@aws-sdk/client-s3";
import { sdkTimeouts } from "../s3/timeouts.js";
import type { UpstreamClient } from "./client.js";

export function controlClient(upstream: UpstreamClient): S3Client {
  const { settings } = upstream;
  // the SDK's default pool keeps idle sockets until the other side closes them: up to 50 fds after a burst of listings
  const pool = { keepAlive: true, maxSockets: 50, timeout: settings.idleMs };
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    credentials: settings.credentials,
    forcePathStyle: settings.addressingStyle === "path",
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: settings.controlAttempts,
    requestHandler: { ...sdkTimeouts(settings.timeoutMs), httpAgent: pool, httpsAgent: pool },
  });
}
