// boto3 as a test client: a Python child process (Debian's python3-boto3, or one on the PATH).
import { spawnSync } from "node:child_process";
import { ACCESS_KEY, SECRET_KEY, cleanEnv } from "./harness.js";

/** A python with boto3: the pyenv one on the PATH, or Debian's; undefined without one. */
export const PYTHON = ["python3", "/usr/bin/python3"].find((python) => spawnSync(python, ["-c", "import boto3"]).status === 0);
// CI installs python3-boto3, so there a missing boto3 is a broken setup, not a reason to skip
if (PYTHON === undefined && process.env.CI) throw new Error("boto3 is missing (apt-get install python3-boto3)");
if (PYTHON === undefined) console.warn("boto3 cases skipped (apt-get install python3-boto3)");

/**
 * Runs `body` (Python, with `s3` a boto3 client of `endpoint`, path-style unless
 * `config` says otherwise, and `endpoint` the URL) and returns what it printed as JSON.
 */
export function boto3(endpoint: string, body: string, config = 's3={"addressing_style": "path"}'): unknown {
  const script = [
    "import boto3, json, sys",
    "from botocore.config import Config",
    `endpoint = ${JSON.stringify(endpoint)}`,
    `s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",`,
    `    aws_access_key_id="${ACCESS_KEY}", aws_secret_access_key="${SECRET_KEY}", config=Config(${config}))`,
    body,
  ].join("\n");
  const result = spawnSync(PYTHON!, ["-c", script], { env: cleanEnv(), encoding: "utf8", timeout: 60_000 });
  if (result.status !== 0) throw new Error(`boto3 script failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}
