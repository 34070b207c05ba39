// Requests Node's HTTP parser rejects before any handler runs: headers too
// large (over the 16 KiB maxHeaderSize), malformed HTTP, a client too slow to
// send its headers. Node would answer a bare status or reset the connection;
// a client gets S3 error XML instead, and the socket is drained before it
// closes, so the client reads the answer rather than a TCP reset for the
// bytes it was still sending.
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { newRequestId } from "./request-id.js";
import { S3Error } from "../s3/errors.js";
import { errorXml } from "../s3/xml.js";

/** how long a rejected client may go on sending before the socket is destroyed */
const DRAIN_MS = 2_000;

function errorFor(code: string | undefined): S3Error {
  if (code === "HPE_HEADER_OVERFLOW") return new S3Error("RequestHeaderSectionTooLarge", "Your request header section exceeds the maximum allowed size.");
  if (code === "ERR_HTTP_REQUEST_TIMEOUT" || code === "ERR_HTTP_HEADERS_TIMEOUT") {
    return new S3Error("RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.");
  }
  return new S3Error("InvalidRequest", "The request could not be parsed as HTTP/1.1.");
}

export function answerClientErrors(server: Server): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === "ECONNRESET" || !socket.writable || current?.headersSent) {
      // the client is gone, or a response already started on this socket: nothing sensible to add
      socket.destroy();
      return;
    }
    const s3Error = errorFor(error.code);
    const requestId = newRequestId();
    const body = errorXml({ code: s3Error.code, message: s3Error.message, resource: "/", requestId, details: {} });
    socket.end(
      `HTTP/1.1 ${s3Error.status} ${s3Error.status === 400 ? "Bad Request" : "Error"}\r\n` +
      `Content-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `x-amz-request-id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.resume();
    setTimeout(() => socket.destroy(), DRAIN_MS).unref();
  });
}
