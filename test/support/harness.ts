import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll } from "vitest";
import { System, type SystemParts } from "../../bin/system.js";
import { type Config, loadConfig } from "../../infra/config.js";
import type { IncomingRecord } from "../../infra/kafka/index.js";
import { createLogger } from "../../infra/log.js";

/**
 * Every test file gets its own database, topic prefix and group prefix on the shared real stack, so files
 * never see each other's data. Cleanup is registered next to creation.
 */
export interface TestEnv {
  readonly config: Config;
  readonly id: string;
  /** Starts the system; `config` may replace this env's config (e.g. to route the database through a proxy). */
  start(parts: SystemParts, config?: Config): Promise<System>;
  db: pg.Pool;
}

export async function testEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const base = loadConfig();
  const id = `t${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const url = new URL(base.db.url);
  const admin = new pg.Client({ connectionString: withDatabase(url, "postgres") });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${id}`);
  await admin.end();
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: withDatabase(url, id),
    TOPIC_PREFIX: `${id}.`,
    GROUP_PREFIX: `${id}.`,
    TOPIC_PARTITIONS: "3",
    HTTP_PORT: "0",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...overrides,
  });
  const systems: System[] = [];
  const db = new pg.Pool({ connectionString: config.db.url, max: 3 });
  afterAll(async () => {
    for (const s of systems.reverse()) await s.stop().catch(() => undefined);
    await db.end();
    await deleteTopics(config, id);
    const c = new pg.Client({ connectionString: withDatabase(url, "postgres") });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${id} WITH (FORCE)`);
    await c.end();
  });
  return {
    config,
    id,
    db,
    async start(parts, override) {
      const log = createLogger({ level: config.logLevel, service: `test-${id}` });
      const system = new System(override ?? config, log, parts);
      systems.push(system);
      await system.start();
      return system;
    },
  };
}

function withDatabase(url: URL, db: string): string {
  const u = new URL(url.toString());
  u.pathname = `/${db}`;
  return u.toString();
}

async function deleteTopics(config: Config, prefix: string): Promise<void> {
  const system = new System(config, createLogger({ level: "silent", service: "cleanup" }), {});
  try {
    const admin = await system.bus.admin();
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    await admin.deleteTopics(mine).catch(() => undefined);
    await admin.close();
  } finally {
    await system.pool.end();
  }
}

/** Polls until `fn` returns a value that is not undefined/false, or fails with the last value seen. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms (last: ${String(last)})`);
    await sleep(100);
  }
}

/** Reads `topic` from the beginning with a throw-away group until `count` records arrived. */
export async function readTopic(
  system: System,
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<IncomingRecord[]> {
  const records: IncomingRecord[] = [];
  const sub = system.bus.subscription({
    groupId: `${topic}.reader.${randomBytes(3).toString("hex")}`,
    topics: [topic],
  });
  await sub.run(async (r) => {
    records.push(r);
  });
  try {
    await eventually(async () => records.length >= count, timeoutMs);
    return records;
  } finally {
    await sub.stop();
  }
}

export interface HttpResult<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** A body that is not JSON (an HTML page, a proxy's error) comes back as `{ text }` instead of throwing. */
function parseJsonOrText(text: string): unknown {
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return { text };
  }
}

export function http(baseUrl: string) {
  const call = async <T = Record<string, unknown>>(
    method: string,
    path: string,
    /** `raw` as bytes is sent without a content type (fetch adds text/plain to strings). */
    opts: {
      json?: unknown;
      raw?: string | Uint8Array;
      headers?: Record<string, string>;
      token?: string;
    } = {},
  ): Promise<HttpResult<T>> => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.json !== undefined || typeof opts.raw === "string")
      headers["content-type"] ??= "application/json";
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: opts.raw ?? (opts.json !== undefined ? JSON.stringify(opts.json) : undefined),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: parseJsonOrText(text) as T };
  };
  return {
    call,
    async register(email: string, password = "correct horse battery", displayName = "Test User") {
      return call("POST", "/v1/users", { json: { email, password, displayName } });
    },
    async login(email: string, password = "correct horse battery"): Promise<string> {
      const res = await call<{ accessToken: string }>("POST", "/v1/sessions", { json: { email, password } });
      if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.accessToken;
    },
  };
}
