import type pg from "pg";
import { describe, expect, it } from "vitest";
import { createApp } from "../../api/app.js";
import { tokenService } from "../../api/auth.js";
import { openApiDocument } from "../../api/openapi.js";
import { createLogger } from "../../infra/log.js";

describe("OpenAPI document", () => {
  // No request is made: the pool is never used.
  const { router, routes } = createApp({
    pool: {} as pg.Pool,
    tokens: tokenService({ secret: "x".repeat(32), issuer: "t", ttlSeconds: 60 }),
    log: createLogger({ level: "silent", service: "t" }),
    bodyLimitBytes: 1024,
    passwordMinLength: 8,
    maxAmount: 10 ** 12,
    version: "test",
    readiness: async () => ({}),
  });
  const doc = openApiDocument(routes.specs, { version: "test" }) as {
    openapi: string;
    paths: Record<
      string,
      Record<string, { responses: Record<string, unknown>; parameters?: { name: string }[] }>
    >;
  };

  it("describes exactly the routes the router serves", () => {
    const served = router.stack
      .flatMap((layer) =>
        layer.methods
          .filter((m) => m !== "HEAD")
          .map((m) => `${m} ${String(layer.path).replace(/:(\w+)/g, "{$1}")}`),
      )
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(served);
    expect(served).toContain("POST /v1/transfers");
    expect(served).toContain("GET /v1/transactions/{id}");
  });

  it("is OpenAPI 3.1 with problem responses, examples and the Idempotency-Key header on money POSTs", () => {
    expect(doc.openapi).toBe("3.1.0");
    const transfer = doc.paths["/v1/transfers"]?.post;
    expect(Object.keys(transfer?.responses ?? {})).toEqual(
      expect.arrayContaining(["201", "400", "401", "404", "422"]),
    );
    expect(transfer?.parameters?.map((p) => p.name)).toContain("Idempotency-Key");
    const register = doc.paths["/v1/users"]?.post as unknown as {
      requestBody: { content: { "application/json": { example: unknown; schema: { required: string[] } } } };
    };
    expect(register.requestBody.content["application/json"].example).toBeTruthy();
    expect(register.requestBody.content["application/json"].schema.required).toEqual(
      expect.arrayContaining(["email", "password", "displayName"]),
    );
  });
});
