// The embedded store's negative cache: remote 404s remembered in memory. The
// embedded store admits one process, so memory is where the only reader is;
// a restart forgets them, which costs at most one remote request per key.

/** bounded: a scan of random missing keys must not grow the process without limit */
const LIMIT = 100_000;

export class AbsentKeys {
  /** "bucket\nkey" -> until (ms); Map iteration is insertion order, so the first entry is the oldest */
  private readonly until = new Map<string, number>();

  remember(bucket: string, key: string, until: Date): void {
    const id = `${bucket}\n${key}`;
    this.until.delete(id);
    if (this.until.size >= LIMIT) this.until.delete(this.until.keys().next().value!);
    this.until.set(id, until.getTime());
  }

  lookup(bucket: string, key: string): Date | undefined {
    const id = `${bucket}\n${key}`;
    const until = this.until.get(id);
    if (until === undefined) return undefined;
    if (until > Date.now()) return new Date(until);
    this.until.delete(id);
    return undefined;
  }

  forget(bucket: string, key: string): void {
    this.until.delete(`${bucket}\n${key}`);
  }

  forgetBucket(bucket: string): void {
    for (const id of this.until.keys()) if (id.startsWith(`${bucket}\n`)) this.until.delete(id);
  }
}
