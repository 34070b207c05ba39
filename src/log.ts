// Server log lines on stderr. Never given secrets: callers pass names, not keys.

function line(level: string, message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
}

export const log = {
  info: (message: string) => line("info", message),
  warn: (message: string) => line("warn", message),
  error: (message: string) => line("error", message),
};
