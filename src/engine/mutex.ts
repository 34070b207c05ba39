// Per-key serialization: tasks with the same key run one after another.

export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      // drop the entry once nothing else queued behind this task
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** The id of one object in per-object maps and locks (engine and overlay must agree on it). */
export function objectId(bucket: string, key: string): string {
  return `${bucket}\n${key}`;
}
