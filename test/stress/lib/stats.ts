// Latencies per operation and the errors of a load run.

export class Latencies {
  private readonly samples = new Map<string, number[]>();

  record(op: string, ms: number): void {
    let list = this.samples.get(op);
    if (!list) this.samples.set(op, (list = []));
    list.push(ms);
  }

  /** every operation seen, in first-seen order */
  rows(): { op: string; count: number; p50: number; p99: number; max: number }[] {
    return [...this.samples].map(([op, list]) => {
      const sorted = [...list].sort((a, b) => a - b);
      return { op, count: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? 0 };
    });
  }

  clear(): void {
    this.samples.clear();
  }

  total(): number {
    let sum = 0;
    for (const list of this.samples.values()) sum += list.length;
    return sum;
  }
}

/** nearest-rank quantile of sorted samples */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export interface LoadError {
  op: string;
  key: string;
  detail: string;
}

/** Every error is counted; the first ones are kept with their detail for the report. */
export class Errors {
  readonly kept: LoadError[] = [];
  count = 0;

  add(op: string, key: string, detail: string): void {
    this.count++;
    if (this.kept.length < 50) this.kept.push({ op, key, detail });
  }
}

export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export const ms = (value: number) => value.toFixed(1);
export const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
