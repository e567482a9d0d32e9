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
