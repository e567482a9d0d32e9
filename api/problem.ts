import type { Duplex } from "node:stream";
import type { Context, Next } from "koa";
import { AppError, ERROR_CODES, isUnavailable } from "../infra/errors.js";
import type { Logger } from "../infra/log.js";

export const PROBLEM_TYPE_BASE = "urn:walletstream:problem:";

/**
 * The one error path of the HTTP boundary: every error becomes an RFC 9457 application/problem+json body
 * with a stable `code`. 5xx bodies say nothing internal; the log line has the detail.
 */
export function problemMiddleware(log: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new AppError("not_found");
    } catch (err) {
      const appErr = toAppError(err);
      if (appErr.status >= 500) {
        ((ctx.state.log as Logger | undefined) ?? log).error({ err }, "request failed");
      }
      ctx.status = appErr.status;
      ctx.type = "application/problem+json";
      for (const [k, v] of Object.entries(appErr.headers)) ctx.set(k, v);
      ctx.body = {
        type: `${PROBLEM_TYPE_BASE}${appErr.code}`,
        title: ERROR_CODES[appErr.code].title,
        status: appErr.status,
        code: appErr.code,
        ...(appErr.expose ? { detail: appErr.message } : {}),
        instance: ctx.path,
        ...(ctx.state.requestId ? { requestId: ctx.state.requestId } : {}),
        ...(appErr.fields.length ? { errors: appErr.fields } : {}),
      };
    }
  };
}

/**
 * Requests Node's HTTP parser refuses before Koa sees them (headers beyond the 16 KiB limit, a garbled request
 * line): answered as problem+json too, then the connection is closed. For `server.on("clientError", …)`.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const code = err.code === "HPE_HEADER_OVERFLOW" ? "headers_too_large" : "malformed_request";
  const { status, title } = ERROR_CODES[code];
  const body = JSON.stringify({ type: `${PROBLEM_TYPE_BASE}${code}`, title, status, code });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  // The database (or another dependency) is unreachable: a 503 the client may retry, not a 500.
  if (isUnavailable(err)) {
    return new AppError("service_unavailable", "A dependency is unavailable; retry later.", {
      cause: err,
      expose: true,
      headers: { "Retry-After": "2" },
    });
  }
  const e = err as { status?: number; expose?: boolean; message?: string; type?: string };
  // Errors thrown by koa / its middleware carry an HTTP status.
  if (e?.type === "entity.too.large" || e?.status === 413) return new AppError("payload_too_large");
  if (e?.status === 405) return new AppError("method_not_allowed");
  if (e?.status === 404) return new AppError("not_found");
  if (e?.status === 401) return new AppError("unauthorized");
  if (e?.status === 415) return new AppError("unsupported_media_type");
  if (e?.status === 400) return new AppError("validation_failed", e.expose ? e.message : undefined);
  return new AppError("internal", undefined, { cause: err });
}
