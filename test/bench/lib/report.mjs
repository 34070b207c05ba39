// The benchmark report: one row per comparison, rendered as a Markdown table.
import { formatTable } from "./stats.mjs";

/**
 * A result row. overlay/baseline: display strings; ratio: number (shown as
 * "0.93x") or undefined; pass: true/false, or undefined for information only.
 */
export function resultRow(scenario, { overlay, baseline = "", ratio, target = "info", pass }) {
  return { scenario, overlay, baseline, ratio, target, pass };
}

/** A row for a scenario that failed to run. */
export function errorRow(scenario, error) {
  return resultRow(scenario, { overlay: `ERROR: ${String(error?.message ?? error).split("\n")[0].slice(0, 160)}`, pass: false });
}

export function renderTable(rows) {
  return formatTable(
    rows.map((row) => ({
      scenario: row.scenario,
      "s3-overlay": row.overlay,
      baseline: row.baseline,
      ratio: row.ratio === undefined || !Number.isFinite(row.ratio) ? "" : `${row.ratio.toFixed(2)}x`,
      target: row.target,
      "pass?": row.pass === undefined ? "" : row.pass ? "yes" : "**NO**",
    })),
  );
}

export const mbps = (bytes, seconds) => `${(bytes / 1e6 / seconds).toFixed(0)} MB/s`;
export const ms = (value) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;
export const mib = (value) => `${value.toFixed(0)} MiB`;

/** Run one part of the benchmark; if it throws, its result is an error row (the rest still runs). */
export async function attempt(scenario, fn) {
  try {
    return await fn();
  } catch (error) {
    console.error(`${scenario} failed:`, error);
    process.exitCode = 1;
    return [errorRow(scenario, error)];
  }
}
