import avro from "avsc";
import { beforeAll, describe, expect, it } from "vitest";
import type { System } from "../../bin/system.js";
import { eventually, http, readTopic, type TestEnv, testEnv } from "../support/harness.js";

describe("register → wallet through Kafka (end to end over HTTP)", () => {
  let env: TestEnv;
  let system: System;
  let api: ReturnType<typeof http>;

  beforeAll(async () => {
    env = await testEnv();
    system = await env.start({ api: true, relay: true, processors: ["wallet"] });
    api = http(system.apiUrl as string);
  });

  it("creates exactly one wallet, visible over HTTP, and publishes wallet_created in the Confluent wire format", async () => {
    const reg = await api.register("Ada.Lovelace@Example.com", "analytical engine", "Ada");
    expect(reg.status).toBe(201);
    expect(reg.body).toMatchObject({ email: "ada.lovelace@example.com", displayName: "Ada" });
    expect(reg.body).not.toHaveProperty("password");
    expect(reg.body).not.toHaveProperty("passwordHash");
    const userId = reg.body.id as string;
    expect(reg.headers.get("location")).toBe(`/v1/users/${userId}`);

    const token = await api.login("ada.lovelace@example.com", "analytical engine");
    const wallet = await eventually(async () => {
      const res = await api.call("GET", "/v1/wallets/me", { token });
      return res.status === 200 ? res.body : undefined;
    }, 15_000);
    expect(wallet).toMatchObject({ userId, currency: "USD", balance: 0 });

    const { rows } = await env.db.query("SELECT id FROM wallets WHERE user_id = $1", [userId]);
    expect(rows).toHaveLength(1);
    expect(rows[0].id).toBe(wallet.id);

    // The password is stored hashed (argon2id), never in clear.
    const stored = await env.db.query("SELECT password_hash FROM users WHERE id = $1", [userId]);
    expect(stored.rows[0].password_hash).toMatch(/^\$argon2id\$/);

    // Read the raw record and decode it the way any Confluent consumer would: magic byte, schema id, Avro body
    // with the writer schema fetched from the registry by id.
    const [record] = await readTopic(system, system.names.event("wallet_created"), 1);
    expect(record?.key?.toString()).toBe(userId);
    const value = record?.value as Buffer;
    expect(value.readUInt8(0)).toBe(0);
    const schemaId = value.readUInt32BE(1);
    const res = await fetch(`${env.config.registry.url}/schemas/ids/${schemaId}`);
    expect(res.status).toBe(200);
    const { schema } = (await res.json()) as { schema: string };
    const decoded = avro.Type.forSchema(JSON.parse(schema)).fromBuffer(value.subarray(5));
    expect(decoded).toMatchObject({ walletId: wallet.id, userId, currency: "USD", balance: 0 });
    expect(record?.headers["event-type"]).toBe("wallet_created");
    // The correlation id of the HTTP request followed the event through the outbox into Kafka.
    expect(record?.headers["correlation-id"]).toBe(reg.headers.get("x-request-id"));
  });

  it("reports readiness of PostgreSQL, Kafka and the registry", async () => {
    expect((await api.call("GET", "/healthz")).status).toBe(200);
    const ready = await api.call("GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: true, kafka: true, registry: true });
  });
});
