import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../api/app.js";
import { tokenService } from "../../api/auth.js";
import type { System } from "../../bin/system.js";
import { loadConfig } from "../../infra/config.js";
import type { Pool } from "../../infra/db/pool.js";
import { createLogger } from "../../infra/log.js";
import { Metrics } from "../../infra/metrics.js";
import {
  type Case,
  type Check,
  casesFor,
  expectProblem,
  type Fixture,
  type Req,
  type RouteEntry,
  routeKey,
} from "../support/catalogue.js";
import { eventually, type HttpResult, http, type TestEnv, testEnv } from "../support/harness.js";
import { ODD_UNICODE, SQL_STRINGS } from "../support/hostile.js";
import { type Api, money, snapshot, type TestUser, userWithWallet } from "../support/money.js";

/**
 * The bad-input catalogue: every route of the route table (the same declarations that make GET /openapi.json)
 * gets the hostile requests that follow from its declaration, plus its own cases below. Each must answer a
 * 4xx application/problem+json with the expected code and change nothing: not a row, not an event.
 * A route without an entry here fails the coverage test.
 */

const BODY_LIMIT = 16 * 1024;
const MAX_AMOUNT = 1_000_000;
const base = loadConfig();
/** The route table, built at collection time so that each case is a test of its own (no request reaches it). */
const { routes } = createApp({
  pool: {} as Pool,
  tokens: tokenService({ secret: base.auth.jwtSecret, issuer: base.auth.jwtIssuer, ttlSeconds: 60 }),
  log: createLogger({ level: "silent", service: "catalogue" }),
  bodyLimitBytes: BODY_LIMIT,
  passwordMinLength: base.auth.passwordMinLength,
  maxAmount: MAX_AMOUNT,
  version: "0",
  readiness: async () => ({}),
  metrics: new Metrics({ service: "catalogue" }),
});
const SPECS = routes.specs;

interface World extends Fixture {
  readonly alice: TestUser;
  readonly bob: TestUser;
  readonly aliceTransactionId: string;
  readonly bobTransactionId: string;
  readonly aliceNotificationId: string;
  readonly bobNotificationId: string;
  /** Per money route, a key alice used and the body she used it with. */
  readonly used: Record<string, { key: string; body: Record<string, unknown> }>;
}

const PASSWORD = "correct horse battery";
const problem = (status: number, code: string): Check => ({ status, code });
const ok200 =
  (check: (body: Record<string, unknown>, w: World) => void = () => undefined) =>
  (res: HttpResult) => {
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
    check(res.body, world);
  };
const emptyPage = ok200((body) => expect(body.items).toEqual([]));
/** A request with alice's token and a fresh key: only the body is hostile. */
const post =
  (path: string, body: (w: World) => unknown, key: (w: World) => string = () => randomUUID()) =>
  (w: World): Req => ({
    method: "POST",
    path,
    raw: JSON.stringify(body(w)),
    headers: { "idempotency-key": key(w) },
  });
const nasty = [...SQL_STRINGS, ...ODD_UNICODE];
/** Hostile free text inside a request that is refused for another reason: it goes through the route unharmed. */
const nastyIn = (field: string, refused: string, path: string, body: (w: World) => object, check: Check) =>
  nasty.map(([name, value]) => ({
    name: `${field} ${name}, ${refused}`,
    expect: check,
    req: post(path, (w) => ({ ...body(w), [field]: value })),
  }));
/** Routes that take no input ignore a query string, however it looks. */
const noInput = (path: string): RouteEntry<World> => ({
  cases: [
    {
      name: "a SQL query string is ignored",
      expect: ok200(),
      req: () => ({ method: "GET", path: `${path}?q=${encodeURIComponent("' OR 1=1 --")}` }),
    },
  ],
});
const cursor = (s: string) => Buffer.from(s).toString("base64url");
/** Cursors of the right shape whose numbers PostgreSQL cannot hold. */
const forgedCursors = (path: string, cursors: string[]): Case<World>[] =>
  cursors.map((c) => ({
    name: `a forged cursor ${c}`,
    expect: problem(400, "invalid_cursor"),
    req: () => ({ method: "GET", path: `${path}?cursor=${cursor(c)}` }),
  }));

function moneyEntry(
  path: string,
  extra: (w: World) => Record<string, unknown>,
  own: Case<World>[],
): RouteEntry<World> {
  return {
    valid: (w) => ({ body: { ...extra(w), amount: 1, currency: "USD" } }),
    fieldCodes: { amount: "invalid_amount" },
    unknownUser: problem(409, "wallet_not_provisioned"),
    cases: [
      {
        name: "an Idempotency-Key alice used for another body",
        expect: problem(422, "idempotency_key_reused"),
        req: post(
          path,
          (w) => ({ ...w.used[path]?.body, amount: 2 }),
          (w) => w.used[path]?.key ?? "",
        ),
      },
      {
        name: "an amount of MONEY_MAX_AMOUNT + 1",
        expect: problem(400, "invalid_amount"),
        req: post(path, (w) => ({ ...extra(w), amount: MAX_AMOUNT + 1 })),
      },
      {
        name: "two amount keys, the second negative",
        expect: problem(400, "invalid_amount"),
        req: (w) => ({
          ...post(path, () => ({}))(w),
          raw: `{"amount": 1, "amount": -1${wrapExtra(extra(w))}}`,
        }),
      },
      {
        name: "bob's wallet id as walletId",
        expect: problem(400, "validation_failed"),
        req: post(path, (w) => ({ ...extra(w), amount: 1, walletId: w.bob.walletId })),
      },
      {
        name: "a currency in lower case",
        expect: problem(400, "validation_failed"),
        req: post(path, (w) => ({ ...extra(w), amount: 1, currency: "usd" })),
      },
      ...own,
    ],
  };
}
const wrapExtra = (extra: Record<string, unknown>) => {
  const s = JSON.stringify(extra).slice(1, -1);
  return s ? `, ${s}` : "";
};

const ENTRIES: Record<string, RouteEntry<World>> = {
  "GET /healthz": noInput("/healthz"),
  "GET /readyz": noInput("/readyz"),
  "GET /metrics": noInput("/metrics"),
  "GET /openapi.json": noInput("/openapi.json"),
  "GET /docs": noInput("/docs"),
  "POST /v1/users": {
    valid: () => ({
      body: { email: `new-${randomUUID()}@example.com`, password: PASSWORD, displayName: "New" },
    }),
    freeText: ["password", "displayName"],
    cases: [
      ...nasty.map(([name, value]) => ({
        name: `displayName ${name}, with a taken email`,
        expect: problem(409, "email_taken"),
        req: (w: World): Req => ({
          method: "POST",
          path: "/v1/users",
          raw: JSON.stringify({ email: w.alice.email, password: PASSWORD, displayName: value }),
        }),
      })),
      {
        name: "a chosen user id",
        expect: problem(400, "validation_failed"),
        req: (w) => ({
          method: "POST",
          path: "/v1/users",
          raw: JSON.stringify({
            id: w.bob.userId,
            email: `x-${randomUUID()}@example.com`,
            password: PASSWORD,
            displayName: "x",
          }),
        }),
      },
    ],
  },
  "POST /v1/sessions": {
    valid: (w) => ({ body: { email: w.alice.email, password: PASSWORD } }),
    freeText: ["password"],
    cases: [
      ...SQL_STRINGS.map(([name, value]) => ({
        name: `a password that is ${name}`,
        expect: problem(401, "invalid_credentials"),
        req: (w: World): Req => ({
          method: "POST",
          path: "/v1/sessions",
          raw: JSON.stringify({ email: w.alice.email, password: value }),
        }),
      })),
    ],
  },
  "GET /v1/wallets/me": {
    unknownUser: problem(404, "wallet_not_provisioned"),
    cases: [
      {
        name: "bob's user id in the query is ignored: alice gets her own wallet",
        expect: ok200((body, w) => expect(body.id).toBe(w.alice.walletId)),
        req: (w) => ({ method: "GET", path: `/v1/wallets/me?userId=${w.bob.userId}` }),
      },
    ],
  },
  "POST /v1/wallets/me/deposits": {
    ...moneyEntry("/v1/wallets/me/deposits", () => ({ reference: "catalogue" }), [
      ...nastyIn(
        "reference",
        "in another currency",
        "/v1/wallets/me/deposits",
        () => ({ amount: 1, currency: "EUR" }),
        problem(422, "currency_mismatch"),
      ),
    ]),
    freeText: ["reference"],
  },
  "POST /v1/wallets/me/withdrawals": {
    ...moneyEntry("/v1/wallets/me/withdrawals", () => ({ reference: "catalogue" }), [
      ...nastyIn(
        "reference",
        "beyond the balance",
        "/v1/wallets/me/withdrawals",
        () => ({ amount: MAX_AMOUNT }),
        problem(422, "insufficient_funds"),
      ),
    ]),
    freeText: ["reference"],
  },
  "POST /v1/transfers": {
    ...moneyEntry("/v1/transfers", (w) => ({ toWalletId: w.bob.walletId, description: "catalogue" }), [
      ...nastyIn(
        "description",
        "to myself",
        "/v1/transfers",
        (w) => ({ amount: 1, toWalletId: w.alice.walletId }),
        problem(422, "self_transfer"),
      ),
      ...nasty.map(([name, value]) => ({
        name: `toEmail ${name}`,
        expect: problem(400, "validation_failed"),
        req: post("/v1/transfers", () => ({ amount: 1, toEmail: value })),
      })),
      {
        name: "a legal but unknown email with a quote",
        expect: problem(404, "recipient_not_found"),
        req: post("/v1/transfers", () => ({ amount: 1, toEmail: "admin'--@example.com" })),
      },
      {
        name: "bob's wallet as fromWalletId",
        expect: problem(400, "validation_failed"),
        req: post("/v1/transfers", (w) => ({
          amount: 1,
          toWalletId: w.alice.walletId,
          fromWalletId: w.bob.walletId,
        })),
      },
      {
        name: "my own email as recipient",
        expect: problem(422, "self_transfer"),
        req: post("/v1/transfers", (w) => ({ amount: 1, toEmail: w.alice.email.toUpperCase() })),
      },
    ]),
    freeText: ["description"],
  },
  "GET /v1/wallets/me/transactions": {
    unknownUser: emptyPage,
    cases: forgedCursors("/v1/wallets/me/transactions", [
      "e:9999999999999999999",
      "e:-1",
      `e:${"1".repeat(20)}`,
    ]),
  },
  "GET /v1/transactions/:id": {
    valid: (w) => ({ path: `/v1/transactions/${w.aliceTransactionId}` }),
    notMine: "transaction_not_found",
    unknownUser: problem(404, "transaction_not_found"),
    cases: [
      {
        name: "bob's transaction",
        expect: problem(404, "transaction_not_found"),
        req: (w) => ({ method: "GET", path: `/v1/transactions/${w.bobTransactionId}` }),
      },
    ],
  },
  "GET /v1/notifications": {
    unknownUser: emptyPage,
    cases: forgedCursors("/v1/notifications", ["n:999999999999999:1", "n:1:9999999999999999999", "n:-1:1"]),
  },
  "POST /v1/notifications/:id/read": {
    valid: (w) => ({ path: `/v1/notifications/${w.aliceNotificationId}/read` }),
    notMine: "notification_not_found",
    unknownUser: problem(404, "notification_not_found"),
    cases: [
      {
        name: "bob's notification stays unread",
        expect: problem(404, "notification_not_found"),
        req: (w) => ({ method: "POST", path: `/v1/notifications/${w.bobNotificationId}/read` }),
      },
    ],
  },
};

let env: TestEnv;
let system: System;
let api: Api;
let world: World;
let topicsBefore: Record<string, unknown>;
const seenCodes = new Map<string, Set<string>>();

describe("bad-input catalogue", () => {
  beforeAll(async () => {
    env = await testEnv({ HTTP_BODY_LIMIT_BYTES: String(BODY_LIMIT), MONEY_MAX_AMOUNT: String(MAX_AMOUNT) });
    system = await env.start({ api: true, relay: true, processors: ["wallet", "notifications"] });
    api = http(system.apiUrl as string);
    const m = money(api);
    const [alice, bob] = [
      await userWithWallet(api, `alice-${randomUUID().slice(0, 6)}`),
      await userWithWallet(api, `bob-${randomUUID().slice(0, 6)}`),
    ];
    const used: World["used"] = {};
    const use = async (path: string, body: Record<string, unknown>) => {
      const key = randomUUID();
      const res = await m.post(path, alice.token, body, key);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      used[path] = { key, body };
      return res.body.id as string;
    };
    const aliceTransactionId = await use("/v1/wallets/me/deposits", { amount: 500, reference: "seed" });
    await use("/v1/wallets/me/withdrawals", { amount: 1 });
    await use("/v1/transfers", { toWalletId: bob.walletId, amount: 1 });
    const bobDeposit = await m.deposit(bob, 7);
    // Quiet before the catalogue: every event published and turned into its notification (4 alice, 3 bob).
    const notifications = await eventually(async () => {
      const { rows } = await env.db.query<{ id: string; user_id: string }>(
        "SELECT id, user_id FROM notifications",
      );
      const pending = await env.db.query("SELECT 1 FROM outbox WHERE published_at IS NULL");
      return rows.length === 7 && pending.rowCount === 0 ? rows : undefined;
    });
    const notificationOf = (u: TestUser) => notifications.find((n) => n.user_id === u.userId)?.id ?? "";
    world = {
      kit: { secret: env.config.auth.jwtSecret, issuer: env.config.auth.jwtIssuer },
      token: alice.token,
      bodyLimitBytes: BODY_LIMIT,
      alice,
      bob,
      aliceTransactionId,
      bobTransactionId: bobDeposit.body.id as string,
      aliceNotificationId: notificationOf(alice),
      bobNotificationId: notificationOf(bob),
      used,
    };
    topicsBefore = await topicEnds();
  });

  async function topicEnds(): Promise<Record<string, unknown>> {
    const admin = await system.bus.admin();
    try {
      const topics = ["user_registered", "wallet_created", "funds_deposited"] as const;
      const ends: Record<string, unknown> = {};
      for (const t of topics) ends[t] = await admin.topicOffsets(system.names.event(t));
      return ends;
    } finally {
      await admin.close();
    }
  }

  it("covers every route: the live OpenAPI document, the route table and the catalogue name the same routes", async () => {
    const doc = (await api.call("GET", "/openapi.json")).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    const live = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => routeKey({ method: m as "get", path: p.replace(/\{(\w+)\}/g, ":$1") })),
    );
    expect(live.sort()).toEqual(SPECS.map(routeKey).sort());
    expect(
      Object.keys(ENTRIES).sort(),
      "a route without a catalogue entry, or an entry without a route",
    ).toEqual(SPECS.map(routeKey).sort());
  });

  for (const spec of SPECS) {
    describe(routeKey(spec), () => {
      for (const c of casesFor(spec, ENTRIES[routeKey(spec)] ?? {})) {
        it(c.name, async () => {
          const req = c.req(world);
          const auth =
            req.authorization === undefined
              ? spec.auth
                ? `Bearer ${world.token}`
                : null
              : req.authorization;
          const before = await snapshot(env.db);
          const res = await api.call(req.method, req.path, {
            ...(req.raw !== undefined ? { raw: req.raw } : {}),
            headers: { ...req.headers, ...(auth === null ? {} : { authorization: auth }) },
          });
          if (typeof res.body.code === "string") {
            const seen = seenCodes.get(routeKey(spec)) ?? new Set();
            seenCodes.set(routeKey(spec), seen.add(res.body.code));
          }
          if (typeof c.expect === "function") c.expect(res);
          else expectProblem(res, c.expect.status, c.expect.code);
          expect(await snapshot(env.db)).toEqual(before);
        });
      }
    });
  }

  it("every code answered is one the route documents in the OpenAPI document", () => {
    const undocumented = SPECS.flatMap((spec) =>
      [...(seenCodes.get(routeKey(spec)) ?? [])]
        .filter(
          (code) =>
            !(spec.errors as string[]).includes(code) && !["method_not_allowed", "not_found"].includes(code),
        )
        .map((code) => `${routeKey(spec)} → ${code}`),
    );
    expect(undocumented).toEqual([]);
  });

  it("nothing reached Kafka: the event topics' end offsets did not move", async () => {
    // Give a relay that had something to publish the time to do it.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await topicEnds()).toEqual(topicsBefore);
  });

  // After the no-change checks: these requests are meant to succeed.
  it("SQL-looking and odd Unicode text is legal in free-text fields and comes back byte for byte", async () => {
    const m = money(api);
    for (const [, text] of nasty) {
      const res = await m.post("/v1/wallets/me/deposits", world.alice.token, { amount: 1, reference: text });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.reference).toBe(text);
    }
    const history = await api.call<{ items: { reference: string }[] }>("GET", "/v1/wallets/me/transactions", {
      token: world.alice.token,
    });
    expect(history.body.items.slice(0, nasty.length).map((i) => i.reference)).toEqual(
      nasty.map(([, t]) => t).reverse(),
    );
    const name = nasty
      .map(([, t]) => t)
      .join(" ")
      .slice(0, 100);
    const reg = await api.register(`odd-${randomUUID()}@example.com`, PASSWORD, name);
    expect(reg.body.displayName).toBe(name.trim());
    expect((await env.db.query("SELECT count(*)::int AS n FROM wallets")).rows[0].n).toBeGreaterThan(0);
  });
});
