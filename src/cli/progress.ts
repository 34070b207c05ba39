// Warm progress on stderr: a cli-progress bar on a terminal (objects, bytes,
// rate, ETA); plain lines every few seconds and at the end otherwise (CI logs).
import cliProgress from "cli-progress";
import type { WarmEvent } from "../engine/warm.js";

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, "0")}s`;
}

export class WarmProgress {
  private objects = 0;
  private objectsTotal = 0;
  private bytes = 0;
  private bytesTotal = 0;
  private failed = 0;
  private readonly started = Date.now();
  private bar: cliProgress.SingleBar | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly terminal: boolean, private readonly intervalMs: number, private readonly stream: NodeJS.WriteStream = process.stderr) {}

  /** Feed every WarmEvent here. */
  readonly onEvent = (event: WarmEvent): void => {
    if (event.type === "plan") this.start(event.objects, event.bytes, event.skipped);
    else if (event.type === "bytes") this.bytes += event.bytes;
    else if (event.type === "object") {
      this.objects++;
      if (event.error) this.failed++;
    } else if (event.type === "summary") return this.stop();
    if (!this.stopped) this.bar?.update(this.bytes, this.payload());
  };

  /** Stops the display (also after an error); once: the final line is drawn one time. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.bar) this.bar.stop();
    else if (this.objectsTotal > 0) this.line();
    this.bar = undefined;
  }

  /** A message between progress lines: the live bar is finished first, so the message is not drawn over it. */
  note(message: string): void {
    this.stop();
    this.stream.write(`${message}\n`);
  }

  private start(objects: number, bytes: number, skipped: number): void {
    if (this.stopped) return;
    this.objectsTotal = objects;
    this.bytesTotal = bytes;
    if (skipped > 0 || objects === 0) this.stream.write(`warm: ${objects} objects (${formatBytes(bytes)}) to fetch, ${skipped} already cached or not to fetch\n`);
    if (objects === 0) return;
    if (this.terminal) {
      this.bar = new cliProgress.SingleBar({
        stream: this.stream,
        format: "warm [{bar}] {percentage}% | {objects}/{objectsTotal} objects | {done}/{size} | {rate} | ETA {eta_formatted}{failures}",
        hideCursor: true,
        etaBuffer: 50,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(Math.max(bytes, 1), 0, this.payload());
    } else {
      this.timer = setInterval(() => this.line(), this.intervalMs);
      this.timer.unref();
    }
  }

  private rate(): number {
    return this.bytes / Math.max((Date.now() - this.started) / 1000, 0.001);
  }

  private payload(): Record<string, string | number> {
    return {
      objects: this.objects,
      objectsTotal: this.objectsTotal,
      done: formatBytes(this.bytes),
      size: formatBytes(this.bytesTotal),
      rate: `${formatBytes(this.rate())}/s`,
      failures: this.failed > 0 ? ` | ${this.failed} failed` : "",
    };
  }

  private line(): void {
    const rate = this.rate();
    const eta = rate > 0 ? formatSeconds((this.bytesTotal - this.bytes) / rate) : "?";
    this.stream.write(
      `warm: ${this.objects}/${this.objectsTotal} objects, ${formatBytes(this.bytes)}/${formatBytes(this.bytesTotal)}, ${formatBytes(rate)}/s, ETA ${eta}` +
        `${this.failed > 0 ? `, ${this.failed} failed` : ""}\n`,
    );
  }
}
