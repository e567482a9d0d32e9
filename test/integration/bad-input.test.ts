import { connect } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { eventually, http, type TestEnv, testEnv } from "../support/harness.js";

/** Every bad request answers its documented status and code as problem+json, and leaves no row and no event. */
describe("bad input over HTTP", () => {
  let env: TestEnv;
  let api: ReturnType<typeof http>;
  let apiUrl: string;

  beforeAll(async () => {
    env = await testEnv({ HTTP_BODY_LIMIT_BYTES: "2048" });
    // No wallet processor: wallets stay unprovisioned, so that state is observable.
    const system = await env.start({ api: true, relay: true });
    apiUrl = system.apiUrl as string;
    api = http(apiUrl);
  });

  const counts = async () => {
    const { rows } = await env.db.query(
      "SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM outbox)::int AS events",
    );
    return rows[0] as { users: number; events: number };
  };

  const expectProblem = (
    res: { status: number; headers: Headers; body: Record<string, unknown> },
    status: number,
    code: string,
  ) => {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.body).toMatchObject({ status, code, type: `urn:walletstream:problem:${code}` });
    expect(typeof res.body.title).toBe("string");
  };

  const valid = { email: "valid@example.com", password: "long enough password", displayName: "Valid" };

  const registrationCases: [
    string,
    { json?: unknown; raw?: string; headers?: Record<string, string> },
    number,
    string,
  ][] = [
    ["malformed JSON", { raw: '{"email": "x@example.com",' }, 400, "malformed_json"],
    ["a JSON array", { raw: "[1,2]" }, 400, "validation_failed"],
    ["no body", {}, 400, "validation_failed"],
    ["an unknown field", { json: { ...valid, isAdmin: true } }, 400, "validation_failed"],
    ["a missing field", { json: { email: valid.email, password: valid.password } }, 400, "validation_failed"],
    ["a bad email", { json: { ...valid, email: "not-an-email" } }, 400, "validation_failed"],
    ["a short password", { json: { ...valid, password: "short" } }, 400, "validation_failed"],
    ["a blank display name", { json: { ...valid, displayName: "   " } }, 400, "validation_failed"],
    ["a wrong type", { json: { ...valid, displayName: 42 } }, 400, "validation_failed"],
    ["an oversized body", { json: { ...valid, displayName: "x".repeat(5000) } }, 413, "payload_too_large"],
    [
      "a non-JSON content type",
      { raw: "email=a@b.c", headers: { "content-type": "application/x-www-form-urlencoded" } },
      415,
      "unsupported_media_type",
    ],
  ];

  for (const [name, req, status, code] of registrationCases) {
    it(`POST /v1/users with ${name} → ${status} ${code}, nothing written`, async () => {
      const before = await counts();
      const res = await api.call("POST", "/v1/users", req);
      expectProblem(res, status, code);
      expect(await counts()).toEqual(before);
    });
  }

  it("lists each bad field", async () => {
    const res = await api.call("POST", "/v1/users", { json: { email: "nope", password: "x", extra: 1 } });
    const fields = (res.body.errors as { field: string }[]).map((e) => e.field).sort();
    expect(fields).toEqual(["displayName", "email", "extra", "password"]);
  });

  it("a duplicate email (any case) → 409 email_taken, one user and one event", async () => {
    expect((await api.register("dup@example.com")).status).toBe(201);
    const before = await counts();
    const res = await api.register("  DUP@Example.com ");
    expectProblem(res, 409, "email_taken");
    expect(await counts()).toEqual(before);
    const events = await env.db.query(
      "SELECT count(*)::int AS n FROM outbox WHERE payload->>'email' = 'dup@example.com'",
    );
    expect(events.rows[0].n).toBe(1);
  });

  it("wrong credentials → 401 with the same answer whether the email exists or not", async () => {
    await api.register("known@example.com");
    const wrongPassword = await api.call("POST", "/v1/sessions", {
      json: { email: "known@example.com", password: "wrong password!" },
    });
    const unknownEmail = await api.call("POST", "/v1/sessions", {
      json: { email: "unknown@example.com", password: "wrong password!" },
    });
    expectProblem(wrongPassword, 401, "invalid_credentials");
    expectProblem(unknownEmail, 401, "invalid_credentials");
    const strip = (b: Record<string, unknown>) => ({ ...b, requestId: undefined });
    expect(strip(wrongPassword.body)).toEqual(strip(unknownEmail.body));
  });

  it("a session issues a Bearer JWT with an expiry", async () => {
    await api.register("session@example.com");
    const res = await api.call("POST", "/v1/sessions", {
      json: { email: "session@example.com", password: "correct horse battery" },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ tokenType: "Bearer", expiresIn: 3600 });
    expect(String(res.body.accessToken).split(".")).toHaveLength(3);
  });

  it("GET /v1/wallets/me without a token, with a bad token, or with a token signed by someone else → 401", async () => {
    expectProblem(await api.call("GET", "/v1/wallets/me"), 401, "unauthorized");
    expectProblem(await api.call("GET", "/v1/wallets/me", { token: "not.a.jwt" }), 401, "unauthorized");
    const forged =
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMiLCJpc3MiOiJ3YWxsZXRzdHJlYW0iLCJleHAiOjQxMDI0NDQ4MDB9.3l2dVvWsJwGg4uS1ZkYk0m8xN8kq9bqv5lJm3cKpQ2s";
    expectProblem(await api.call("GET", "/v1/wallets/me", { token: forged }), 401, "unauthorized");
  });

  it("GET /v1/wallets/me before the wallet exists → 404 wallet_not_provisioned", async () => {
    await api.register("early@example.com");
    const token = await api.login("early@example.com");
    // The event went out (relay runs) but no wallet processor consumes it in this file.
    await eventually(
      async () => (await env.db.query("SELECT 1 FROM outbox WHERE published_at IS NULL")).rowCount === 0,
    );
    const res = await api.call("GET", "/v1/wallets/me", { token });
    expectProblem(res, 404, "wallet_not_provisioned");
  });

  it("headers beyond Node's 16 KiB limit → 431, a request that is not HTTP → 400, both problem+json", async () => {
    const rawExchange = async (request: string) => {
      const url = new URL(apiUrl);
      const socket = connect(Number(url.port), url.hostname);
      socket.write(request);
      const chunks: Buffer[] = [];
      for await (const chunk of socket) chunks.push(chunk as Buffer);
      const [head = "", body = ""] = Buffer.concat(chunks).toString("utf8").split("\r\n\r\n");
      return { statusLine: head.split("\r\n")[0], head, body: JSON.parse(body) as Record<string, unknown> };
    };
    const before = await counts();
    const big = await rawExchange(
      `POST /v1/users HTTP/1.1\r\nHost: x\r\nX-Padding: ${"a".repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`,
    );
    expect(big.statusLine).toBe("HTTP/1.1 431 The request headers are too large");
    expect(big.head.toLowerCase()).toContain("content-type: application/problem+json");
    expect(big.body).toMatchObject({ status: 431, code: "headers_too_large" });
    const garbage = await rawExchange("HELLO THERE\r\n\r\n");
    expect(garbage.statusLine).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage.body).toMatchObject({ status: 400, code: "malformed_request" });
    expect(await counts()).toEqual(before);
  });

  it("an unknown route → 404 not_found; a wrong method → 405", async () => {
    expectProblem(await api.call("GET", "/v1/nothing-here"), 404, "not_found");
    expectProblem(await api.call("DELETE", "/v1/users"), 405, "method_not_allowed");
  });
});
