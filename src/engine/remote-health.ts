// Remote trouble is logged once when it starts and once when it ends, not once
// per request; every affected request still gets an S3 error naming the problem.
import { S3Error } from "../s3/errors.js";
import { log } from "../log.js";

export class RemoteHealth {
  private problem: string | undefined;

  constructor(private readonly name: string) {}

  /** The error for a client; logs the problem if it is new. */
  failure(message: string, code: "ServiceUnavailable" | "AccessDenied" = "ServiceUnavailable"): S3Error {
    if (this.problem !== message) {
      this.problem = message;
      log.warn(message);
    }
    return new S3Error(code, message);
  }

  ok(): void {
    if (this.problem === undefined) return;
    this.problem = undefined;
    log.info(`remote S3 at ${this.name} answers again`);
  }

  get lastProblem(): string | undefined {
    return this.problem;
  }
}
