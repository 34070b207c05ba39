// Server log lines on stderr, as text or one JSON object a line. Never given
// secrets: callers pass names, not keys, and URLs without their userinfo.

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type LogFields = Record<string, string | number | boolean | undefined>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold = RANK.info;
let format: LogFormat = "text";

export function configureLog(options: { level: LogLevel; format: LogFormat }): void {
  threshold = RANK[options.level];
  format = options.format;
}

export function logs(level: LogLevel): boolean {
  return RANK[level] >= threshold;
}

function line(level: LogLevel, message: string, fields?: LogFields): void {
  if (!logs(level)) return;
  const time = new Date().toISOString();
  if (format === "json") {
    process.stderr.write(`${JSON.stringify({ time, level, msg: message, ...fields })}\n`);
    return;
  }
  const extra = fields ? Object.entries(fields).filter(([, value]) => value !== undefined).map(([name, value]) => ` ${name}=${value}`).join("") : "";
  process.stderr.write(`${time} ${level} ${message}${extra}\n`);
}

export const log = {
  debug: (message: string, fields?: LogFields) => line("debug", message, fields),
  info: (message: string, fields?: LogFields) => line("info", message, fields),
  warn: (message: string, fields?: LogFields) => line("warn", message, fields),
  error: (message: string, fields?: LogFields) => line("error", message, fields),
};
