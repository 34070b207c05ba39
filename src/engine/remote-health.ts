// Remote trouble is logged once when it starts and once when it ends, not once
// per request; every affected request still gets an S3 error naming the problem.
// "Once" is per kind of trouble (unavailable, or access denied): the details of
// one outage vary from request to request (a reset socket, then refused
// connections; one key, then another), and each variant is only a debug line.
import { S3Error } from "../s3/errors.js";
import { log } from "../log.js";

type Trouble = "ServiceUnavailable" | "AccessDenied";

export class RemoteHealth {
  private problem: string | undefined;
  private trouble: Trouble | undefined;

  constructor(private readonly name: string) {}

  /** The error for a client; logs the problem if its kind is new. */
  failure(message: string, code: Trouble = "ServiceUnavailable"): S3Error {
    if (this.trouble !== code) log.warn(message);
    else if (this.problem !== message) log.debug(message);
    this.trouble = code;
    this.problem = message;
    return new S3Error(code, message);
  }

  ok(): void {
    if (this.problem === undefined) return;
    this.problem = undefined;
    this.trouble = undefined;
    log.info(`remote S3 at ${this.name} answers again`);
  }

  get lastProblem(): string | undefined {
    return this.problem;
  }
}
