// The s3-overlay command line: one commander program, one module per command.
import { Command, CommanderError } from "commander";
import { ConfigError } from "../config.js";
import { addDiffCommand } from "./diff.js";
import { addEvictCommand } from "./evict.js";
import { addResetCommand } from "./reset.js";
import { addServeCommand } from "./serve.js";
import { addStatusCommand } from "./status.js";
import { addVerifyCommand } from "./verify.js";
import { addWarmCommand } from "./warm.js";
import { version } from "./version.js";

/** Exit codes: 0 ok, 1 the command failed, 2 bad usage or configuration. */
export async function main(argv: string[]): Promise<void> {
  // what the commands write (the data dir: cached remote data, client writes) is private to the user
  process.umask(0o077);
  const program = new Command()
    .name("s3-overlay")
    .description("A local S3 endpoint that overlays a local store on a remote bucket: reads fill lazily from the remote, writes stay local.")
    .version(version(), "-V, --version")
    .showHelpAfterError()
    .exitOverride();
  addServeCommand(program);
  addWarmCommand(program);
  addEvictCommand(program);
  addStatusCommand(program);
  addVerifyCommand(program);
  addDiffCommand(program);
  addResetCommand(program);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`s3-overlay: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`s3-overlay: ${(error as Error).message ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
