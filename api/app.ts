import { randomUUID } from "node:crypto";
import { bodyParser } from "@koa/bodyparser";
import { Router } from "@koa/router";
import Koa from "koa";
import type { Pool } from "../infra/db/pool.js";
import { AppError } from "../infra/errors.js";
import type { Logger } from "../infra/log.js";
import { requireAuth, type TokenService } from "./auth.js";
import { problemMiddleware } from "./problem.js";
import { userRoutes } from "./users.js";
import { walletRoutes } from "./wallets.js";

export interface ApiDeps {
  readonly pool: Pool;
  readonly tokens: TokenService;
  readonly log: Logger;
  readonly bodyLimitBytes: number;
  readonly passwordMinLength: number;
  /** Each dependency's reachability, for /readyz. */
  readonly readiness: () => Promise<Record<string, boolean>>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createApp(deps: ApiDeps): Koa {
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
      (ctx.state.log as Logger).info(
        {
          method: ctx.method,
          route: (ctx as { _matchedRoute?: string })._matchedRoute ?? ctx.path,
          status: ctx.status,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
        },
        "request",
      );
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
  router.get("/healthz", (ctx) => {
    ctx.body = { status: "ok" };
  });
  router.get("/readyz", async (ctx) => {
    const checks = await deps.readiness();
    const ready = Object.values(checks).every(Boolean);
    ctx.status = ready ? 200 : 503;
    ctx.type = ready ? "application/json" : "application/problem+json";
    ctx.body = ready
      ? { status: "ready", checks }
      : {
          type: "urn:walletstream:problem:service_unavailable",
          title: "Not ready",
          status: 503,
          code: "service_unavailable",
          checks,
        };
  });
  userRoutes(router, deps);
  walletRoutes(router, { pool: deps.pool, auth: requireAuth(deps.tokens) });
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  return app;
}
