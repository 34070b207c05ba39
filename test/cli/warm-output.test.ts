// warm's key filters and its progress display, without a server.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { WarmProgress } from "../../src/cli/progress.js";
import { globToRegExp } from "../../src/engine/warm.js";

describe("--include / --exclude globs", () => {
  it.each([
    ["*.parquet", "a.parquet", true], ["*.parquet", "dir/a.parquet", false], ["**/*.parquet", "dir/sub/a.parquet", true],
    ["**/*.parquet", "a.parquet", true], ["data/?.csv", "data/1.csv", true], ["data/?.csv", "data/12.csv", false],
    ["*.{csv,json}", "x.json", true], ["*.{csv,json}", "x.txt", false], ["part-[0-3].bin", "part-2.bin", true],
    ["part-[0-3].bin", "part-7.bin", false], ["*", ".hidden", true], ["logs/**", "logs/2026/12/02.log", true],
    ["a+b(1).txt", "a+b(1).txt", true],
  ])("%s on %s: %s", (glob, key, matches) => {
    expect(globToRegExp(glob).test(key)).toBe(matches);
  });
});

/** A fake stderr: a terminal (isTTY) when asked, recording everything written. */
function fakeStream(terminal: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let written = "";
  const stream = new Writable({ write(chunk, _encoding, done) {
    written += String(chunk);
    done();
  } }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY: terminal, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  return { stream, text: () => written };
}

const summary = { type: "summary" as const, summary: {} as never };

describe("warm progress", () => {
  it("without a terminal, the final line is printed once even when stopped again after the summary", () => {
    const { stream, text } = fakeStream(false);
    const progress = new WarmProgress(false, 60_000, stream);
    progress.onEvent({ type: "plan", objects: 2, bytes: 20, skipped: 0 });
    progress.onEvent({ type: "object", bucket: "b", key: "k1", bytes: 10 });
    progress.onEvent({ type: "object", bucket: "b", key: "k2", bytes: 10 });
    progress.onEvent(summary);
    progress.stop();
    expect(text().match(/warm: 2\/2 objects/g)).toHaveLength(1);
  });

  it("on a terminal, the bar ends once and an interruption note comes after it, not over it", () => {
    const { stream, text } = fakeStream(true);
    const progress = new WarmProgress(true, 60_000, stream);
    progress.onEvent({ type: "plan", objects: 3, bytes: 30, skipped: 0 });
    progress.onEvent({ type: "bytes", bytes: 10 });
    progress.note("warm: interrupted");
    progress.onEvent({ type: "bytes", bytes: 10 });
    progress.onEvent(summary);
    progress.stop();
    const output = text();
    const note = output.indexOf("warm: interrupted");
    expect(note).toBeGreaterThan(output.lastIndexOf("warm ["));
    expect(output.slice(note)).toBe("warm: interrupted\n");
  });
});
