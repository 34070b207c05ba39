// GET /metrics in the Prometheus text format. Per-request series are counted
// here as responses finish; the cache's own counters are read from the engine
// at scrape time, the same numbers `status` shows. Labels stay bounded: the
// operation (a fixed list), a status class, a cache result — never keys or buckets.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Engine } from "../engine/engine.js";
import type { HotSetStats } from "../store/types.js";

/** What one finished request contributes. */
export interface RequestRecord {
  operation: string;
  status: number;
  /** body bytes sent */
  bytes: number;
  seconds: number;
  /** the response ended before its last byte (the client left, or the body failed) */
  aborted: boolean;
  /** X-Cache of a GET/HEAD: hit (from the store), miss or pass (from the remote) */
  cache?: string;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"operation" | "status_class">;
  private readonly duration: Histogram<"operation">;
  private readonly served: Counter<"source">;

  constructor(engine: Engine) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "s3o_" });
    this.requests = new Counter({ name: "s3o_requests_total", help: "S3 requests answered, by operation and status class", labelNames: ["operation", "status_class"], registers });
    this.duration = new Histogram({
      name: "s3o_request_duration_seconds", help: "time from request to the last byte of the response, by operation",
      labelNames: ["operation"], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    });
    this.served = new Counter({ name: "s3o_served_bytes_total", help: "GET body bytes sent, by where they came from (store: egress saved)", labelNames: ["source"], registers });
    engineGauges(engine, registers);
  }

  record(request: RequestRecord): void {
    const statusClass = request.aborted ? "aborted" : `${Math.floor(request.status / 100)}xx`;
    this.requests.inc({ operation: request.operation, status_class: statusClass });
    this.duration.observe({ operation: request.operation }, request.seconds);
    if (request.cache !== undefined && request.bytes > 0) this.served.inc({ source: request.cache === "hit" ? "store" : "remote" }, request.bytes);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The engine's counters, read at scrape time (they only grow, so they are Prometheus counters). */
function engineGauges(engine: Engine, registers: Registry[]): void {
  const series: [name: string, help: string, read: (counters: ReturnType<Engine["counters"]>) => number][] = [
    ["s3o_cache_hits_total", "GETs answered from the local store", (c) => c.hits],
    ["s3o_cache_misses_total", "GETs filled from the remote", (c) => c.misses],
    ["s3o_cache_passes_total", "GETs passed through from the remote without caching", (c) => c.passes],
    ["s3o_filled_bytes_total", "bytes of whole objects filled from the remote", (c) => c.filledBytes],
    ["s3o_coalesced_total", "GETs that joined a fill already running for the same object", (c) => c.coalesced],
    ["s3o_chunk_fetches_total", "chunks fetched from the remote", (c) => c.chunks.fetched],
    ["s3o_chunk_fetched_bytes_total", "bytes of chunks fetched from the remote", (c) => c.chunks.fetchedBytes],
    ["s3o_chunk_hits_total", "chunk reads answered from the store", (c) => c.chunks.hits],
    ["s3o_corrupt_refetched_total", "corrupt cached chunks detected and fetched again", (c) => c.chunks.corrupt],
    ["s3o_storage_full_total", "writes answered 507 XMinioStorageFull: the disk had no room", (c) => c.storageFull],
    ["s3o_disk_full_passthrough_total", "misses and chunks served from the remote without caching: the disk had no room", (c) => c.passThroughDiskFull],
    ["s3o_corrupt_objects_total", "reads of whole stored objects whose bytes were corrupt (mirrors dropped and refetched, client writes answer 500)", (c) => c.corruptObjects],
  ];
  for (const [name, help, read] of series) {
    new Counter({ name, help, registers, collect() {
      this.reset();
      this.inc(read(engine.counters()));
    } });
  }
  // the embedded store's hot set of small objects: its fixed bound and what it holds now
  const hot: [name: string, help: string, read: (stats: HotSetStats) => number][] = [
    ["s3o_hot_set_bytes", "bytes of small objects kept in memory (the embedded store's hot set)", (s) => s.bytes],
    ["s3o_hot_set_objects", "small objects kept in memory", (s) => s.objects],
    ["s3o_hot_set_max_bytes", "the hot set's fixed bound in bytes", (s) => s.maxBytes],
  ];
  if (engine.counters().hotSet === undefined) return;
  for (const [name, help, read] of hot) {
    new Gauge({ name, help, registers, collect() {
      this.set(read(engine.counters().hotSet!));
    } });
  }
  new Counter({ name: "s3o_hot_set_hits_total", help: "GETs answered from the hot set", registers, collect() {
    this.reset();
    this.inc(engine.counters().hotSet!.hits);
  } });
}
