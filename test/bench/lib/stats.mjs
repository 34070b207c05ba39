// Small statistics and reporting helpers for benchmarks.

export function median(xs) {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Run fn n times, one after another, and return the median result.
 * fn may return a number, or an object: then each numeric field is the median
 * of that field across trials (other fields come from the last trial).
 */
export async function runTrials(n, fn) {
  const results = [];
  for (let i = 0; i < n; i++) results.push(await fn(i));
  if (typeof results[0] === "number") return median(results);
  const combined = { ...results.at(-1) };
  for (const [key, value] of Object.entries(combined)) {
    if (typeof value === "number") combined[key] = median(results.map((r) => r[key]));
  }
  return combined;
}

function formatCell(value) {
  if (typeof value !== "number") return String(value ?? "");
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(2);
}

/** rows: array of objects; columns are the keys in order of first appearance. Numbers are right-aligned. */
export function formatTable(rows) {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const numeric = columns.map((c) => rows.every((r) => r[c] === undefined || typeof r[c] === "number"));
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [
    line(columns),
    line(numeric.map((isNum) => (isNum ? "---:" : "---"))),
    ...rows.map((r) => line(columns.map((c) => formatCell(r[c]).replaceAll("|", "\\|")))),
  ].join("\n");
}
