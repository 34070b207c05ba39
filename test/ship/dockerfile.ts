// Reads the Dockerfile and .dockerignore the way the tests need: instructions per stage,
// and the files a build context would hold. No container engine runs where the tests do.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** The stages of a Dockerfile: continuation lines joined, comments dropped. */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue; // a comment inside a continued instruction
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push((pending + line).trim());
    pending = "";
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    const upper = keyword!.toUpperCase();
    if (upper === "FROM") {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args!)!;
      stages.push({ from: from!, name, instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`${upper} before FROM`);
      stages.at(-1)!.instructions.push({ keyword: upper, args: args! });
    }
  }
  return stages;
}

/** An instruction's exec-form (JSON array) arguments, or undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith("[")) return undefined;
  const parsed: unknown = JSON.parse(args);
  return Array.isArray(parsed) && parsed.every((part) => typeof part === "string") ? parsed : undefined;
}

/** ENV of a stage: both `ENV A=1 B=2` and the legacy `ENV A 1` forms. */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== "ENV") continue;
    if (!args.includes("=")) {
      const [name, ...value] = args.split(/\s+/);
      env[name!] = value.join(" ");
      continue;
    }
    for (const match of args.matchAll(/(\w+)=("([^"]*)"|\S*)/g)) env[match[1]!] = match[3] ?? match[2]!;
  }
  return env;
}

// .dockerignore patterns: later ones win, `!` re-includes, a pattern naming a directory covers
// everything under it, `*` and `?` stay within one path segment and `**` spans any number.
function toRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === "*" && pattern[i + 1] === "*") {
      source += ".*";
      i++;
    } else if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}(/.*)?$`);
}

interface Rule {
  negate: boolean;
  pattern: RegExp;
  prefix: string; // the literal start of a `!` pattern: directories above it must be walked
}

function parseIgnore(text: string): Rule[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const negate = line.startsWith("!");
      const pattern = path.posix.normalize((negate ? line.slice(1) : line).replace(/^\/+/, "")).replace(/\/$/, "");
      return { negate, pattern: toRegExp(pattern), prefix: pattern.split(/[*?[]/)[0]! };
    });
}

function ignored(rules: Rule[], file: string): boolean {
  let result = false;
  for (const rule of rules) if (rule.pattern.test(file)) result = !rule.negate;
  return result;
}

/** The files (relative, `/`-separated) that `docker build <root>` would send, honoring .dockerignore. */
export function buildContext(root: string): string[] {
  const ignorePath = path.join(root, ".dockerignore");
  const rules = existsSync(ignorePath) ? parseIgnore(readFileSync(ignorePath, "utf8")) : [];
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        // an ignored directory is skipped unless a `!` pattern may re-include something in it
        const reopened = rules.some((rule) => rule.negate && (rule.prefix.startsWith(`${rel}/`) || rule.pattern.test(rel)));
        if (!ignored(rules, rel) || reopened) walk(rel);
      } else if (!ignored(rules, rel)) files.push(rel);
    }
  };
  walk("");
  return files.sort();
}
