import type { ExtendedError } from "socket.io";
import { type ErrorCode, ErrorCodes } from "../protocol/index.js";
import type { AppSocket } from "./event-router.js";

type Middleware = (socket: AppSocket, next: (err?: ExtendedError) => void) => unknown;

/** The catalogue code a refusal carries in `err.data.code` (what the client's connect_error gets). */
function refusalCode(err: ExtendedError): ErrorCode {
  const code = (err.data as { code?: unknown } | undefined)?.code;
  // Only catalogue codes become label values: a label set must stay bounded.
  return typeof code === "string" && Object.hasOwn(ErrorCodes, code) ? (code as ErrorCode) : "INTERNAL";
}

/** The same Socket.IO middleware, reporting each connection it refuses by its code. */
export function reportingRefusals(middleware: Middleware, onRefused: (code: ErrorCode) => void): Middleware {
  return (socket, next) =>
    middleware(socket, (err) => {
      if (err) onRefused(refusalCode(err));
      next(err);
    });
}
