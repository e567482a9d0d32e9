import { randomUUID } from "node:crypto";
import { bodyParser } from "@koa/bodyparser";
import { Router } from "@koa/router";
import Koa from "koa";
import { z } from "zod";
import type { Pool } from "../infra/db/pool.js";
import { AppError } from "../infra/errors.js";
import type { Logger } from "../infra/log.js";
import type { Metrics } from "../infra/metrics.js";
import { type PasswordHashCost, passwordHasher, requireAuth, type TokenService } from "./auth.js";
import { moneyRoutes } from "./money/routes.js";
import { notificationRoutes } from "./notifications.js";
import { docsPage, openApiDocument } from "./openapi.js";
import { problemMiddleware } from "./problem.js";
import { RouteTable } from "./routing.js";
import { userRoutes } from "./users.js";
import { walletRoutes } from "./wallets.js";

export interface ApiDeps {
  readonly pool: Pool;
  readonly tokens: TokenService;
  readonly log: Logger;
  readonly bodyLimitBytes: number;
  readonly passwordMinLength: number;
  /** argon2id cost of new password hashes; OWASP's minimum when not given. */
  readonly passwordHash?: PasswordHashCost;
  readonly maxAmount: number;
  readonly version: string;
  /** Each dependency's reachability, for /readyz. */
  readonly readiness: () => Promise<Record<string, boolean>>;
  /** Prometheus metrics of this process, served at /metrics. */
  readonly metrics?: Metrics;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface Api {
  readonly app: Koa;
  /** What the router serves, for the OpenAPI coverage test. */
  readonly router: Router;
  readonly routes: RouteTable;
}

export function createApp(deps: ApiDeps): Api {
  const app = new Koa({ proxy: false });
  app.silent = true; // errors are logged once, by problemMiddleware

  // Correlation id: the caller's X-Request-Id when well-formed, else a new one. It travels on into the
  // outbox, the Kafka headers and every processor's log lines.
  app.use(async (ctx, next) => {
    const given = ctx.get("x-request-id");
    const requestId = REQUEST_ID.test(given) ? given : randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = deps.log.child({ requestId });
    ctx.set("X-Request-Id", requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const matched = (ctx as { _matchedRoute?: string })._matchedRoute;
      (ctx.state.log as Logger).info(
        {
          method: ctx.method,
          route: matched ?? ctx.path,
          status: ctx.status,
          durationMs: Math.round(seconds * 1e4) / 10,
        },
        "request",
      );
      // Unmatched paths share one label: raw paths would make the series unbounded.
      const labels = { method: ctx.method, route: matched ?? "(unmatched)", status: String(ctx.status) };
      deps.metrics?.httpRequests.inc(labels);
      deps.metrics?.httpDuration.observe(labels, seconds);
    }
  });
  app.use(problemMiddleware(deps.log));
  app.use(
    bodyParser({
      enableTypes: ["json"],
      jsonLimit: deps.bodyLimitBytes,
      jsonStrict: true,
      onError: (err) => {
        const e = err as { type?: string; status?: number };
        if (e.type === "entity.too.large") throw new AppError("payload_too_large");
        throw new AppError("malformed_json", "The request body is not valid JSON.");
      },
    }),
  );

  const router = new Router();
  const routes = new RouteTable(router, requireAuth(deps.tokens));
  healthRoutes(routes, deps.readiness);
  if (deps.metrics) metricsRoute(routes, deps.metrics);
  userRoutes(routes, { ...deps, passwords: passwordHasher(deps.passwordHash) });
  walletRoutes(routes, { pool: deps.pool });
  moneyRoutes(routes, { pool: deps.pool, maxAmount: deps.maxAmount });
  notificationRoutes(routes, { pool: deps.pool });
  docRoutes(routes, deps.version);
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  return { app, router, routes };
}

function healthRoutes(routes: RouteTable, readiness: ApiDeps["readiness"]): void {
  const Checks = z.object({ postgres: z.boolean(), kafka: z.boolean(), registry: z.boolean() });
  routes.add(
    {
      method: "get",
      path: "/healthz",
      tag: "operations",
      summary: "Liveness: the process answers",
      success: { status: 200, description: "Alive", schema: z.object({ status: z.literal("ok") }) },
      errors: [],
    },
    (ctx) => {
      ctx.body = { status: "ok" };
    },
  );
  routes.add(
    {
      method: "get",
      path: "/readyz",
      tag: "operations",
      summary:
        "Readiness: PostgreSQL, Kafka and the schema registry answer (503 with the failing checks otherwise)",
      success: {
        status: 200,
        description: "Ready",
        schema: z.object({ status: z.literal("ready"), checks: Checks }),
      },
      errors: ["service_unavailable"],
    },
    async (ctx) => {
      const checks = await readiness();
      if (!Object.values(checks).every(Boolean)) {
        ctx.status = 503;
        ctx.type = "application/problem+json";
        ctx.body = {
          type: "urn:walletstream:problem:service_unavailable",
          title: "Not ready",
          status: 503,
          code: "service_unavailable",
          checks,
        };
        return;
      }
      ctx.body = { status: "ready", checks };
    },
  );
}

function docRoutes(routes: RouteTable, version: string): void {
  let doc: Record<string, unknown> | undefined;
  // Built on first request, after every route is declared (the two doc routes included).
  const document = () => {
    doc ??= openApiDocument(routes.specs, { version });
    return doc;
  };
  routes.add(
    {
      method: "get",
      path: "/openapi.json",
      tag: "operations",
      summary: "This API's OpenAPI 3.1 document",
      success: { status: 200, description: "OpenAPI document" },
      errors: [],
    },
    (ctx) => {
      ctx.body = document();
    },
  );
  routes.add(
    {
      method: "get",
      path: "/docs",
      tag: "operations",
      summary: "Human-readable API documentation",
      success: { status: 200, description: "HTML page" },
      errors: [],
    },
    (ctx) => {
      ctx.type = "text/html; charset=utf-8";
      ctx.body = docsPage(document());
    },
  );
}

function metricsRoute(routes: RouteTable, metrics: Metrics): void {
  routes.add(
    {
      method: "get",
      path: "/metrics",
      tag: "operations",
      summary: "Prometheus metrics of this process (text exposition format)",
      success: { status: 200, description: "Metrics" },
      errors: [],
    },
    async (ctx) => {
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
    },
  );
}
