// What the engine does when stored bytes of a whole object fail their check
// (a read, or verify --repair): count and log it, then drop a mirror (the next
// read fetches it again) or mark a client write, which has no other copy, so
// that reads answer an S3 error until it is written again.
import type { Readable } from "node:stream";
import { CorruptBlockError } from "../block-crc.js";
import { log } from "../log.js";
import { ON_CORRUPT, type ObjectInfo, type StoreAccounting, type StoreIntegrity } from "../store/types.js";

export class Corruption {
  /** objects found corrupt since start (status: corruptObjects) */
  found = 0;

  constructor(private readonly store: StoreAccounting & StoreIntegrity) {}

  async handle(info: ObjectInfo, error: Error): Promise<void> {
    this.found++;
    const what = info.origin === "remote" ? "mirrored object, dropped: the next read fetches it again" : "client write, kept and marked: reads answer InternalError";
    log.error(`corrupt stored bytes of ${info.bucket}/${info.key} (${error.message}); ${what}`);
    try {
      if (info.origin === "remote") {
        // only if still that mirrored version: a client write that replaced it is never touched
        await this.store.evict({ kind: "object", bucket: info.bucket, key: info.key, etag: info.etag, size: info.size, lastAccess: new Date() });
      } else {
        await this.store.markCorrupt?.(info);
      }
    } catch (failure) {
      log.error(`could not drop or mark ${info.bucket}/${info.key}: ${(failure as Error).message}`);
    }
  }

  /** A store read of `info`: corruption found by whoever consumes it (as a stream, or its file spans) is handled once. */
  watch(info: ObjectInfo, stream: Readable): Readable {
    let handled: Promise<void> | undefined;
    const onCorrupt = (error: Error) => (handled ??= this.handle(info, error));
    stream.once("error", (error) => {
      if (error instanceof CorruptBlockError) void onCorrupt(error);
    });
    return Object.assign(stream, { [ON_CORRUPT]: onCorrupt });
  }
}
