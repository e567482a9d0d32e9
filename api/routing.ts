import type { Router, RouterContext } from "@koa/router";
import type { Middleware } from "koa";
import { z } from "zod";
import type { ErrorCode } from "../infra/errors.js";

/**
 * Routes are declared once, with the zod schemas that validate them; the same declarations produce the OpenAPI
 * document (api/openapi.ts), so the docs cannot describe a route the router does not serve, or miss one.
 */
export interface RouteSpec {
  readonly method: "get" | "post";
  /** Koa path syntax (`/v1/transactions/:id`). */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  /** Requires a Bearer token. */
  readonly auth?: boolean;
  /** Requires an Idempotency-Key header. */
  readonly idempotent?: boolean;
  readonly body?: z.ZodType;
  readonly bodyExample?: unknown;
  readonly query?: z.ZodType;
  readonly params?: z.ZodType;
  readonly success: {
    readonly status: number;
    readonly description: string;
    readonly schema?: z.ZodType;
    readonly example?: unknown;
  };
  /** Problem codes this route can answer with (besides 500 internal and 503 service_unavailable). */
  readonly errors: readonly ErrorCode[];
}

export type Handler = (ctx: RouterContext) => Promise<void> | void;

export class RouteTable {
  readonly specs: RouteSpec[] = [];

  constructor(
    readonly router: Router,
    private readonly auth: Middleware,
  ) {}

  add(spec: RouteSpec, handler: Handler): void {
    this.specs.push(spec);
    const chain: Middleware[] = spec.auth ? [this.auth] : [];
    this.router[spec.method](spec.path, ...(chain as never[]), async (ctx: RouterContext) => {
      await handler(ctx);
    });
  }
}

/** Shared response and parameter schemas. */
export const Uuid = z.uuid();
export const Timestamp = z.iso.datetime().describe("ISO 8601, UTC");
export const MinorUnits = z.int().min(0).describe("Integer minor units (cents)");
export const Currency = z
  .string()
  .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD")
  .describe("ISO 4217 currency code");
