import { readFileSync } from "node:fs";

/** The package version, read from package.json next to dist/. */
export function version(): string {
  const packageJson = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(packageJson, "utf8")) as { version: string }).version;
}
