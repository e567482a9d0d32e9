/**
 * One error type with a code from a closed list. The HTTP boundary maps codes to problem+json; the processor
 * runner maps them to retry / dead-letter decisions. Options object, never positional booleans.
 */
export const ERROR_CODES = {
  // HTTP input
  validation_failed: { status: 400, title: "The request is not valid" },
  malformed_json: { status: 400, title: "The request body is not valid JSON" },
  unsupported_media_type: { status: 415, title: "The request body must be application/json" },
  payload_too_large: { status: 413, title: "The request body is too large" },
  headers_too_large: { status: 431, title: "The request headers are too large" },
  malformed_request: { status: 400, title: "The request is not valid HTTP" },
  not_found: { status: 404, title: "No such resource" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  unauthorized: { status: 401, title: "Authentication is required" },
  invalid_credentials: { status: 401, title: "Email or password is wrong" },
  email_taken: { status: 409, title: "A user with this email already exists" },
  wallet_not_provisioned: { status: 404, title: "The wallet is not provisioned yet" },
  // Money
  invalid_amount: { status: 400, title: "The amount is not a valid number of minor units" },
  invalid_cursor: { status: 400, title: "The pagination cursor is not valid" },
  idempotency_key_required: { status: 400, title: "An Idempotency-Key header is required" },
  idempotency_key_reused: { status: 422, title: "This Idempotency-Key was used for a different request" },
  insufficient_funds: { status: 422, title: "The balance is too low for this movement" },
  currency_mismatch: { status: 422, title: "The currency does not match the wallet's" },
  self_transfer: { status: 422, title: "A wallet cannot transfer to itself" },
  recipient_not_found: { status: 404, title: "No such recipient" },
  transaction_not_found: { status: 404, title: "No such transaction" },
  // Notifications
  notification_not_found: { status: 404, title: "No such notification" },
  // Dependencies
  service_unavailable: { status: 503, title: "A dependency is unavailable; retry later" },
  // Outgoing email: a mail server that is down or defers (4xx) is worth retrying; a 5xx rejection is final.
  mail_unavailable: { status: 503, title: "The mail server is unavailable or deferred the message" },
  mail_rejected: { status: 502, title: "The mail server rejected the message permanently" },
  // Events
  event_undecodable: { status: 500, title: "An event could not be decoded" },
  event_invalid: { status: 500, title: "An event failed validation" },
  record_too_large: { status: 500, title: "A record is larger than the processors accept" },
  // Everything else
  internal: { status: 500, title: "Internal error" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export interface AppErrorOptions {
  /** A transient failure worth another attempt (a processor retries it, an HTTP client may). */
  readonly retryable?: boolean;
  /** The message may be shown to clients (4xx always are; 5xx never show internals). */
  readonly expose?: boolean;
  readonly cause?: unknown;
  readonly fields?: readonly FieldError[];
  readonly headers?: Readonly<Record<string, string>>;
  /** Overrides the code's default HTTP status where one code answers differently on two routes. */
  readonly status?: number;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly expose: boolean;
  readonly fields: readonly FieldError[];
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message?: string, opts: AppErrorOptions = {}) {
    super(message ?? ERROR_CODES[code].title, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = "AppError";
    this.code = code;
    this.status = opts.status ?? ERROR_CODES[code].status;
    this.retryable = opts.retryable ?? code === "service_unavailable";
    this.expose = opts.expose ?? this.status < 500;
    this.fields = opts.fields ?? [];
    this.headers = opts.headers ?? {};
  }
}

/** SQLSTATE classes and Node socket errors that mean "the database is not reachable right now". */
const PG_UNAVAILABLE = /^(08|57P0[1-3]|53300)/;
const NET_UNAVAILABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** True when `err` says a dependency (database, broker, registry) is down, not that the input is bad. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof AppError) return err.code === "service_unavailable";
  if (!err || typeof err !== "object") return false;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown };
  if (typeof e.code === "string" && (PG_UNAVAILABLE.test(e.code) || NET_UNAVAILABLE.has(e.code))) return true;
  if (
    typeof e.message === "string" &&
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(
      e.message,
    )
  ) {
    return true;
  }
  return e.cause !== undefined && e.cause !== err ? isUnavailable(e.cause) : false;
}

/** Never throws; unknown errors are not retryable (programmer errors must not loop). */
export function isRetryable(err: unknown): boolean {
  if (err instanceof AppError) return err.retryable;
  if (isUnavailable(err)) return true;
  const code = (err as { code?: unknown } | null)?.code;
  // Serialization failure and deadlock: PostgreSQL asks for the transaction to be run again.
  return code === "40001" || code === "40P01";
}
