#!/usr/bin/env node
// Which kinds of objects grew between two heap snapshots (the serve's, from
// `S3_OVERLAY_STRESS_SNAPSHOTS=1 npm run test:stress`): count and bytes per
// constructor / type, largest growth first.
//   node test/stress/heap-diff.mjs before.heapsnapshot after.heapsnapshot [rows]
import { readFileSync } from "node:fs";

function summarize(file) {
  const { snapshot, nodes, strings } = JSON.parse(readFileSync(file, "utf8"));
  const fields = snapshot.meta.node_fields;
  const types = snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const byKind = new Map();
  for (let i = 0; i < nodes.length; i += fields.length) {
    const type = types[nodes[i + typeAt]];
    // strings and code are summed by type; objects by constructor name
    const kind = type === "object" || type === "closure" || type === "native" ? `${type}:${strings[nodes[i + nameAt]]}` : type;
    const entry = byKind.get(kind) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += nodes[i + sizeAt];
    byKind.set(kind, entry);
  }
  return byKind;
}

const [beforeFile, afterFile, rows = "25"] = process.argv.slice(2);
if (!afterFile) {
  console.error("usage: heap-diff.mjs before.heapsnapshot after.heapsnapshot [rows]");
  process.exit(2);
}
const before = summarize(beforeFile);
const after = summarize(afterFile);
const total = (map) => [...map.values()].reduce((sum, e) => sum + e.bytes, 0);
const diff = [...after].map(([kind, e]) => {
  const b = before.get(kind) ?? { count: 0, bytes: 0 };
  return { kind, count: e.count - b.count, bytes: e.bytes - b.bytes, now: e.count };
});
diff.sort((x, y) => y.bytes - x.bytes);
console.log(`heap self sizes: ${(total(before) / 2 ** 20).toFixed(2)} MiB -> ${(total(after) / 2 ** 20).toFixed(2)} MiB`);
for (const d of diff.slice(0, Number(rows))) {
  console.log(`${(d.bytes / 1024).toFixed(1).padStart(10)} KiB ${String(d.count).padStart(8)} objects (now ${d.now})  ${d.kind.slice(0, 100)}`);
}
