import { z } from "zod";
import { ERROR_CODES, type ErrorCode } from "../infra/errors.js";
import { PROBLEM_TYPE_BASE } from "./problem.js";
import type { RouteSpec } from "./routing.js";

const toSchema = (s: z.ZodType) => z.toJSONSchema(s, { io: "input", unrepresentable: "any" });
const openApiPath = (koaPath: string) => koaPath.replace(/:([A-Za-z_]+)/g, "{$1}");

/** OpenAPI 3.1 from the route declarations and their zod schemas: the same schemas that validate requests. */
export function openApiDocument(
  specs: readonly RouteSpec[],
  info: { version: string },
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    const path = openApiPath(spec.path);
    const codes: ErrorCode[] = [...new Set<ErrorCode>([...spec.errors, "internal", "service_unavailable"])];
    const byStatus = new Map<number, ErrorCode[]>();
    for (const c of codes)
      byStatus.set(ERROR_CODES[c].status, [...(byStatus.get(ERROR_CODES[c].status) ?? []), c]);
    const responses: Record<string, unknown> = {
      [spec.success.status]: {
        description: spec.success.description,
        ...(spec.success.schema
          ? { content: { "application/json": { schema: toSchema(spec.success.schema) } } }
          : {}),
      },
    };
    for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
      responses[status] = {
        description: list.map((c) => `\`${c}\`: ${ERROR_CODES[c].title}`).join("; "),
        content: {
          "application/problem+json": {
            schema: { $ref: "#/components/schemas/Problem" },
            examples: Object.fromEntries(
              list.map((c) => [
                c,
                { value: { type: `${PROBLEM_TYPE_BASE}${c}`, title: ERROR_CODES[c].title, status, code: c } },
              ]),
            ),
          },
        },
      };
    }
    const parameters: unknown[] = [];
    const params = spec.params
      ? (toSchema(spec.params) as { properties?: Record<string, unknown> })
      : undefined;
    for (const [name, schema] of Object.entries(params?.properties ?? {})) {
      parameters.push({ name, in: "path", required: true, schema });
    }
    const query = spec.query ? (toSchema(spec.query) as { properties?: Record<string, unknown> }) : undefined;
    for (const [name, schema] of Object.entries(query?.properties ?? {})) {
      parameters.push({ name, in: "query", required: false, schema });
    }
    if (spec.idempotent) {
      parameters.push({
        name: "Idempotency-Key",
        in: "header",
        required: true,
        description:
          "Unique per intended movement (e.g. a UUID). The same key and body return the original response without moving money again; kept at least 24 h.",
        schema: { type: "string", minLength: 1, maxLength: 255 },
      });
    }
    paths[path] ??= {};
    paths[path][spec.method] = {
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      tags: [spec.tag],
      operationId: `${spec.method}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? "").toUpperCase())}`,
      ...(spec.auth ? { security: [{ bearer: [] }] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(spec.body
        ? {
            requestBody: {
              required: true,
              content: {
                "application/json": {
                  schema: toSchema(spec.body),
                  ...(spec.bodyExample ? { example: spec.bodyExample } : {}),
                },
              },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "walletstream API",
      version: info.version,
      description:
        "Money is integer minor units (cents). Errors are RFC 9457 application/problem+json with a stable `code`.",
    },
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      schemas: {
        Problem: {
          type: "object",
          required: ["type", "title", "status", "code"],
          properties: {
            type: { type: "string" },
            title: { type: "string" },
            status: { type: "integer" },
            code: { type: "string", enum: Object.keys(ERROR_CODES) },
            detail: { type: "string" },
            instance: { type: "string" },
            requestId: { type: "string" },
            errors: {
              type: "array",
              items: {
                type: "object",
                properties: { field: { type: "string" }, message: { type: "string" } },
              },
            },
          },
        },
      },
    },
  };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** A self-contained HTML page (no external scripts) listing every operation of the document. */
export function docsPage(doc: Record<string, unknown>): string {
  const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
  const ops = Object.entries(paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const body = (op.requestBody as { content?: Record<string, { example?: unknown; schema?: unknown }> })
        ?.content?.["application/json"];
      const responses = Object.entries(op.responses as Record<string, { description: string }>)
        .map(([status, r]) => `<li><b>${status}</b> ${esc(r.description)}</li>`)
        .join("");
      return `<section><h2><code>${method.toUpperCase()} ${esc(path)}</code></h2><p>${esc(String(op.summary))}</p>
${op.description ? `<p>${esc(String(op.description))}</p>` : ""}${op.security ? "<p>Requires <code>Authorization: Bearer &lt;token&gt;</code>.</p>" : ""}
${body?.example ? `<h3>Example body</h3><pre>${esc(JSON.stringify(body.example, null, 2))}</pre>` : ""}
${body?.schema ? `<details><summary>Body schema</summary><pre>${esc(JSON.stringify(body.schema, null, 2))}</pre></details>` : ""}
<h3>Responses</h3><ul>${responses}</ul></section>`;
    }),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>walletstream API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}section{border-top:1px solid #ddd;margin-top:1.5rem}pre{background:#f5f5f5;padding:.5rem;overflow:auto}</style>
</head><body><h1>walletstream API</h1><p>${esc(String((doc.info as { description: string }).description))} Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
${ops.join("\n")}</body></html>`;
}
