// serve --https: clients that default to TLS (DuckDB's httpfs, Spark's s3a)
// need an https:// endpoint. listhen generates a certificate for loopback and
// the configured names; it is kept in the data dir so that a client told to
// trust it once (AWS_CA_BUNDLE, SSL_CERT_FILE) keeps trusting it across restarts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ServeConfig } from "../config.js";

/** What listhen's `https` option gets: files to load, or what to put in a new certificate. */
export type ListenTls = { cert: string; key: string } | { domains: string[]; validityDays: number };

/** The certificate a self-signed serve presents (what clients trust). */
export function selfSignedCertPath(dataDir: string): string {
  return path.join(dataDir, "tls", "cert.pem");
}

function selfSignedKeyPath(dataDir: string): string {
  return path.join(dataDir, "tls", "key.pem");
}

export function listenTls(config: Pick<ServeConfig, "tls" | "dataDir" | "host" | "domain">): ListenTls | undefined {
  if (config.tls === undefined) return undefined;
  if (config.tls !== "self-signed") return { cert: config.tls.certFile, key: config.tls.keyFile };
  const cert = selfSignedCertPath(config.dataDir);
  const key = selfSignedKeyPath(config.dataDir);
  if (existsSync(cert) && existsSync(key)) return { cert, key };
  const names = new Set(["localhost", "127.0.0.1", "::1"]);
  if (config.host !== "0.0.0.0" && config.host !== "::") names.add(config.host);
  if (config.domain) {
    names.add(config.domain);
    names.add(`*.${config.domain}`);
  }
  return { domains: [...names], validityDays: 825 };
}

/** Keeps a newly generated certificate (and its key, private) for the next start. */
export function keepSelfSigned(dataDir: string, generated: { cert: string; key: string }): void {
  if (existsSync(selfSignedCertPath(dataDir))) return;
  mkdirSync(path.dirname(selfSignedCertPath(dataDir)), { recursive: true, mode: 0o700 });
  writeFileSync(selfSignedKeyPath(dataDir), generated.key, { mode: 0o600 });
  writeFileSync(selfSignedCertPath(dataDir), generated.cert);
}

/** The CA a client of this data dir's serve trusts: its self-signed certificate, or the configured one. */
export function trustedCertificate(config: Pick<ServeConfig, "tls" | "dataDir">): string | undefined {
  // the command may run without serve's --https: the data dir still says which certificate serve presents
  const file = typeof config.tls === "object" ? config.tls.certFile : selfSignedCertPath(config.dataDir);
  return existsSync(file) ? readFileSync(file, "utf8") : undefined;
}
