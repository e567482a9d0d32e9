import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import { z } from "zod";
import type { RouteSpec } from "../../api/routing.js";
import type { HttpResult } from "./harness.js";
import {
  BAD_AMOUNTS,
  BAD_AUTHORIZATIONS,
  type BodyValue,
  INVALID_TEXT,
  MALFORMED_JSON,
  ODD_UNICODE,
  SQL_STRINGS,
  type TokenKit,
  tokenFor,
} from "./hostile.js";

/**
 * The bad-input catalogue: for each route of the route table, the hostile requests that follow from its
 * declaration (auth, Idempotency-Key, body schema, path and query parameters), plus the route's own cases.
 * Every one must be answered with a 4xx application/problem+json and change nothing.
 */

/** What the cases need at run time: tokens, the body limit, requests made during setup. */
export interface Fixture {
  readonly kit: TokenKit;
  /** The acting user's valid token. */
  readonly token: string;
  readonly bodyLimitBytes: number;
}

export interface Req {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly raw?: string | Uint8Array;
  /** The Authorization header: the acting user's token unless given; null sends none. */
  readonly authorization?: string | null;
}

export type Check = { readonly status: number; readonly code: string } | ((res: HttpResult) => void);

export interface Case<F extends Fixture = Fixture> {
  readonly name: string;
  readonly req: (f: F) => Req;
  readonly expect: Check;
}

export interface RouteEntry<F extends Fixture = Fixture> {
  /** A well-formed request each case changes one thing of (never sent as it is). */
  readonly valid?: (f: F) => { readonly path?: string; readonly body?: Record<string, unknown> };
  /** String fields that hold any text (names, references): SQL-looking and odd Unicode are legal there. */
  readonly freeText?: readonly string[];
  /** The code of a field's bad values when it is not validation_failed (amount → invalid_amount). */
  readonly fieldCodes?: Readonly<Record<string, string>>;
  /** The code for an :id that is not the caller's. */
  readonly notMine?: string;
  /** The answer to a correctly signed token of a user who does not exist (auth routes). */
  readonly unknownUser?: Check;
  /** The route's own cases (other users' ids, replayed keys, hostile free text in refused requests…). */
  readonly cases?: readonly Case<F>[];
}

export const routeKey = (s: Pick<RouteSpec, "method" | "path">) => `${s.method.toUpperCase()} ${s.path}`;

/** The subject of a correctly signed token of a user who does not exist. */
const NOBODY = randomUUID();
const bad = (code: string, status = 400): Check => ({ status, code });
const HOLE = "__catalogue_hole__";

/** `body` as JSON text with `field` set to `value` (spliced in raw, so invalid Unicode survives) or removed. */
export function bodyWith(body: Record<string, unknown>, field: string, value: BodyValue | undefined): string {
  const { [field]: _, ...rest } = body;
  if (value === undefined) return JSON.stringify(rest);
  if ("json" in value) return JSON.stringify({ ...body, [field]: value.json });
  return JSON.stringify({ ...body, [field]: HOLE }).replace(`"${HOLE}"`, value.raw);
}

interface PropSchema {
  type?: string;
  properties?: Record<string, PropSchema>;
  required?: string[];
}

/** Every generic case of a route, from its declaration. */
export function casesFor<F extends Fixture>(spec: RouteSpec, entry: RouteEntry<F>): Case<F>[] {
  const path = (f: F) => entry.valid?.(f).path ?? spec.path;
  const method = spec.method.toUpperCase();
  const cases: Case<F>[] = [
    {
      name: "method DELETE",
      req: (f) => ({ method: "DELETE", path: path(f) }),
      expect: bad("method_not_allowed", 405),
    },
    {
      name: "method PATCH",
      req: (f) => ({ method: "PATCH", path: path(f) }),
      expect: bad("method_not_allowed", 405),
    },
  ];
  // Money POSTs get a fresh Idempotency-Key, so the key is never what is wrong unless the case says so.
  const send: Send<F> = (name, expect, req, key = spec.idempotent ? randomUUID : null) =>
    cases.push({
      name,
      expect,
      req: (f) => {
        const r = req(f);
        const k = typeof key === "function" ? key() : key;
        return {
          method,
          path: path(f),
          ...r,
          headers: { ...(k === null ? {} : { "idempotency-key": k }), ...r.headers },
        };
      },
    });

  if (spec.auth) {
    for (const [name, make] of BAD_AUTHORIZATIONS) {
      send(`auth: ${name}`, bad("unauthorized", 401), (f) => ({
        authorization: make(f.kit, f.token),
        ...bodyOf(entry, f),
      }));
    }
  }
  if (spec.idempotent) {
    const keys: [string, string | null][] = [
      ["no Idempotency-Key", null],
      ["an empty Idempotency-Key", ""],
      ["a blank Idempotency-Key", "   "],
      ["an Idempotency-Key with spaces", "two words"],
      ["a 256-character Idempotency-Key", "k".repeat(256)],
      ["a non-ASCII Idempotency-Key", "cl\u00e9"],
    ];
    for (const [name, key] of keys) {
      send(name, bad("idempotency_key_required"), (f) => bodyOf(entry, f), key ?? null);
    }
  }
  if (spec.body) bodyCases(spec, entry, send);
  if (spec.params) {
    const param = Object.keys((z.toJSONSchema(spec.params) as PropSchema).properties ?? {})[0] ?? "id";
    const code = entry.notMine ?? "not_found";
    const ids: [string, string][] = [
      ["a non-UUID id", "not-a-uuid"],
      ["a random UUID", randomUUID()],
      ["the nil UUID", "00000000-0000-0000-0000-000000000000"],
      ["an upper-case random UUID", randomUUID().toUpperCase()],
      ["a UUID with a trailing newline", `${randomUUID()}\n`],
      ["a NUL byte", "\u0000"],
      ...SQL_STRINGS.map(([n, s]): [string, string] => [`an id that is ${n}`, s]),
      ["a path traversal", "../../wallets/me"],
      ["a 4 KB id", "9".repeat(4096)],
    ];
    for (const [name, id] of ids) {
      cases.push({
        name: `path: ${name}`,
        expect: bad(code, 404),
        req: () => ({ method, path: spec.path.replace(`:${param}`, encodeURIComponent(id)) }),
      });
    }
  }
  if (spec.query) {
    const queries: [string, string, string][] = [
      ["limit=0", "limit=0", "validation_failed"],
      ["limit=-1", "limit=-1", "validation_failed"],
      ["limit=101", "limit=101", "validation_failed"],
      ["limit=1.5", "limit=1.5", "validation_failed"],
      ["limit=abc", "limit=abc", "validation_failed"],
      ["limit=1e3", "limit=1e3", "validation_failed"],
      ["limit=2^63", "limit=9223372036854775808", "validation_failed"],
      ["an empty limit", "limit=", "validation_failed"],
      ["limit given twice", "limit=1&limit=2", "validation_failed"],
      ["limit[]", "limit[]=1", "validation_failed"],
      ["an unknown parameter", `userId=${randomUUID()}`, "validation_failed"],
      ["a SQL parameter", `limit=${encodeURIComponent("1; DROP TABLE wallets; --")}`, "validation_failed"],
      ["a garbage cursor", "cursor=garbage", "invalid_cursor"],
      ["a SQL cursor", `cursor=${encodeURIComponent("' OR 1=1 --")}`, "invalid_cursor"],
      ["a NUL cursor", "cursor=%00", "invalid_cursor"],
      ["a 65-character cursor", `cursor=${"A".repeat(65)}`, "validation_failed"],
      ["a cursor given twice", "cursor=a&cursor=b", "validation_failed"],
    ];
    for (const [name, query, code] of queries) {
      cases.push({
        name: `query: ${name}`,
        expect: bad(code),
        req: (f) => ({ method, path: `${path(f)}?${query}` }),
      });
    }
  }
  if (spec.auth && entry.unknownUser) {
    send("auth: a valid token of a user who does not exist", entry.unknownUser, (f) => ({
      authorization: `Bearer ${tokenFor(f.kit, NOBODY)}`,
      ...bodyOf(entry, f),
    }));
  }
  return [...cases, ...(entry.cases ?? [])];
}

function bodyOf<F extends Fixture>(entry: RouteEntry<F>, f: F): Partial<Req> {
  const body = entry.valid?.(f).body;
  return body ? { raw: JSON.stringify(body) } : {};
}

type Send<F> = (
  name: string,
  expect: Check,
  req: (f: F) => Partial<Req>,
  key?: string | null | (() => string),
) => void;

function bodyCases<F extends Fixture>(spec: RouteSpec, entry: RouteEntry<F>, send: Send<F>): void {
  const schema = z.toJSONSchema(spec.body as z.ZodType, {
    io: "input",
    unrepresentable: "any",
  }) as PropSchema;
  const valid = (f: F) => entry.valid?.(f).body ?? {};
  const json =
    (raw: string | ((f: F) => string), ct = "application/json") =>
    (f: F) => ({
      raw: typeof raw === "string" ? raw : raw(f),
      headers: { "content-type": ct },
    });
  const text = (f: F) => JSON.stringify(valid(f));

  for (const ct of [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/json-patch+json",
  ]) {
    send(`content type ${ct}`, bad("unsupported_media_type", 415), json(text, ct));
  }
  send("no content type", bad("unsupported_media_type", 415), (f) => ({
    raw: new TextEncoder().encode(text(f)),
  }));
  for (const [name, raw] of MALFORMED_JSON) send(`malformed JSON: ${name}`, bad("malformed_json"), json(raw));
  send("a gzip Content-Encoding over plain JSON", bad("malformed_json"), (f) => ({
    raw: text(f),
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
  }));
  send("an empty body", bad("validation_failed"), json(""));
  send(
    "a JSON array",
    bad("validation_failed"),
    json((f) => JSON.stringify([valid(f)])),
  );
  send("8000 nested arrays", bad("validation_failed"), json(`${"[".repeat(8000)}${"]".repeat(8000)}`));
  send("a body over the limit", bad("payload_too_large", 413), (f) => ({
    raw: `${text(f).slice(0, -1)}${" ".repeat(f.bodyLimitBytes)}}`,
    headers: { "content-type": "application/json" },
  }));
  // The body parser refuses a __proto__ key outright (prototype poisoning), before any schema sees it.
  const extras: [string, string][] = [
    ['"isAdmin": true', "validation_failed"],
    ['"constructor": {"prototype": {"isAdmin": true}}', "validation_failed"],
    ['"__proto__": {"isAdmin": true}', "malformed_json"],
  ];
  for (const [extra, code] of extras) {
    send(
      `an extra field ${extra.split(":")[0]}`,
      bad(code),
      json((f) => `{${extra}, ${text(f).slice(1)}`),
    );
  }
  const codeOf = (field: string) => bad(entry.fieldCodes?.[field] ?? "validation_failed");
  for (const field of schema.required ?? []) {
    send(
      `missing ${field}`,
      codeOf(field),
      json((f) => bodyWith(valid(f), field, undefined)),
    );
  }
  for (const [field, prop] of Object.entries(schema.properties ?? {})) {
    const set = (name: string, check: Check, value: BodyValue | ((f: F) => BodyValue)) =>
      send(
        `${field}: ${name}`,
        check,
        json((f) => bodyWith(valid(f), field, typeof value === "function" ? value(f) : value)),
      );
    if (prop.type === "integer") {
      for (const [name, raw] of BAD_AMOUNTS) set(name, codeOf(field), { raw });
      continue;
    }
    for (const [name, value] of [
      ["a number", 42],
      ["true", true],
      ["null", null],
      ["an array", ["x"]],
      ["an object", { x: 1 }],
    ] as const) {
      set(name, codeOf(field), { json: value });
    }
    set("12 KB of text", codeOf(field), { json: "x".repeat(12_000) });
    send(
      `${field}: a 1 MB string`,
      bad("payload_too_large", 413),
      json((f) => bodyWith(valid(f), field, { json: "x".repeat(1 << 20) })),
    );
    for (const [name, value] of INVALID_TEXT) set(name, codeOf(field), value);
    if (entry.freeText?.includes(field)) continue;
    for (const [name, value] of [...SQL_STRINGS, ...ODD_UNICODE]) set(name, codeOf(field), { json: value });
    set("an empty string", codeOf(field), { json: "" });
  }
}

/** A 4xx problem+json with the expected status and code, in RFC 9457 shape. */
export function expectProblem(res: HttpResult, status: number, code: string): void {
  const detail = JSON.stringify(res.body).slice(0, 500);
  expect(res.status, detail).toBe(status);
  expect(res.headers.get("content-type"), detail).toContain("application/problem+json");
  expect(res.body, detail).toMatchObject({ status, code, type: `urn:walletstream:problem:${code}` });
  expect(typeof res.body.title).toBe("string");
}
