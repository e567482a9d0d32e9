import type { Context } from "koa";
import type { z } from "zod";
import { AppError } from "../infra/errors.js";

/**
 * Validates the JSON body against a zod schema where the data enters. Unknown fields are rejected by the
 * schemas (z.strictObject); every bad field is listed in the problem's `errors`.
 */
export function parseBody<S extends z.ZodType>(ctx: Context, schema: S): z.infer<S> {
  const hasBody = (ctx.request.length ?? 0) > 0 || ctx.get("transfer-encoding") !== "";
  if (hasBody && !ctx.is("application/json")) throw new AppError("unsupported_media_type");
  const body = (ctx.request as { body?: unknown }).body;
  const badText = hasBody ? firstInvalidText(body) : undefined;
  if (badText !== undefined) {
    throw new AppError("validation_failed", "One or more fields are invalid.", {
      fields: [{ field: badText || "(body)", message: "must be Unicode text without NUL characters" }],
    });
  }
  const parsed = schema.safeParse(hasBody ? body : undefined);
  if (!parsed.success) {
    throw new AppError("validation_failed", "One or more fields are invalid.", {
      fields: parsed.error.issues.flatMap((issue) => {
        if (issue.code === "unrecognized_keys") {
          return issue.keys.map((k) => ({ field: [...issue.path, k].join("."), message: "unknown field" }));
        }
        return [{ field: issue.path.join(".") || "(body)", message: issue.message }];
      }),
    });
  }
  return parsed.data;
}

/** Validates the query string against a zod schema (coercing numbers); bad parameters are listed like fields. */
export function parseQuery<S extends z.ZodType>(ctx: Context, schema: S): z.infer<S> {
  const parsed = schema.safeParse(ctx.query);
  if (!parsed.success) {
    throw new AppError("validation_failed", "Invalid query parameters.", {
      fields: parsed.error.issues.map((i) => ({ field: i.path.join(".") || "(query)", message: i.message })),
    });
  }
  return parsed.data;
}

/** A UTF-16 surrogate without its pair: not Unicode, and it would be stored as U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** NUL, which PostgreSQL refuses in text (a 500 if it got that far), or a lone surrogate. */
const invalidText = (s: string) => s.includes("\u0000") || LONE_SURROGATE.test(s);

/**
 * The path of the first string (value or key) in a parsed JSON body that is not storable text, if any. Checked on
 * the whole body before the schema, so no field (present or future) can carry it to the database.
 */
function firstInvalidText(body: unknown): string | undefined {
  const stack: [unknown, string][] = [[body, ""]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [value, path] = item;
    if (typeof value === "string") {
      if (invalidText(value)) return path;
    } else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) {
        const at = path ? `${path}.${k}` : k;
        if (invalidText(k)) return at;
        stack.push([v, at]);
      }
    }
  }
  return undefined;
}
