import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { System } from "../../bin/system.js";
import { type Config, loadConfig } from "../../infra/config.js";
import { createLogger } from "../../infra/log.js";
import { freePort } from "../../infra/stack/proc.js";
import { LocalStack, type ServiceName as StackService } from "../../infra/stack/stack.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import type { PROCESSORS, ServiceName } from "./services.js";
import { progress } from "./timeline.js";

/** Partitions of the run's topics: few enough to create quickly, enough for two members to share a topic. */
const PARTITIONS = 3;

/**
 * The run's own corner of the running local stack, as test/support/harness.ts gives each test file: a
 * database `chaos_<id>`, topic and group prefixes `<id>.`. The services reach PostgreSQL through a TcpProxy
 * (so the injector can cut it); the run's own checks (`db`, `tools`) connect directly.
 */
export interface ChaosEnv {
  readonly id: string;
  /** Direct configuration (the checks' view). */
  readonly config: Config;
  readonly db: pg.Pool;
  /** Bus, topic names and codec for the checks; never started. */
  readonly tools: System;
  readonly proxy: TcpProxy;
  readonly stack: LocalStack;
  /** Stack services this checkout's runner started, which the injector may stop and start again. */
  readonly owned: readonly StackService[];
  readonly serviceEnv: NodeJS.ProcessEnv;
  readonly apiUrl: string;
  readonly apiPort: number;
  envOf(service: ServiceName): NodeJS.ProcessEnv;
  /** Drops the database, topics and groups (kept on a failed run, for a post-mortem). */
  dispose(opts: { keepData: boolean }): Promise<void>;
}

export async function createChaosEnv(opts: {
  runDir: string;
  /** The longest SMTP outage the schedule may inject: email retries must outlast it. */
  smtpOutageMaxMs: number;
}): Promise<ChaosEnv> {
  const base = loadConfig();
  const quiet = createLogger({ level: "warn", service: "chaos-stack" });
  const stack = new LocalStack(base, quiet);
  progress("bringing the local stack up (idempotent: what runs is reused)");
  const status = await stack.up();
  const owned = status.filter((s) => s.owner === "started").map((s) => s.name);

  const id = `chaos_${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const direct = new URL(base.db.url);
  await onMaintenanceDb(direct, (c) => c.query(`CREATE DATABASE ${id}`));
  direct.pathname = `/${id}`;
  const shared = {
    TOPIC_PREFIX: `${id}.`,
    GROUP_PREFIX: `${id}.`,
    TOPIC_PARTITIONS: String(PARTITIONS),
    KAFKA_BROKERS: base.kafka.brokers.join(","),
    SCHEMA_REGISTRY_URL: base.registry.url,
    SMTP_HOST: base.smtp.host,
    SMTP_PORT: String(base.smtp.port),
    STACK_MODE: "external",
    KAFKA_SESSION_TIMEOUT_MS: "8000",
    PROCESSOR_RETRY_INITIAL_MS: "200",
    PROCESSOR_RETRY_MULTIPLIER: "3",
    PROCESSOR_RETRY_MAX_MS: "3000",
    EMAIL_RETRY_INITIAL_MS: String(EMAIL_INITIAL_MS),
    EMAIL_RETRY_MAX_MS: String(EMAIL_MAX_MS),
    EMAIL_MAX_ATTEMPTS: String(emailAttemptsToOutlast(opts.smtpOutageMaxMs)),
    SHUTDOWN_TIMEOUT_MS: "10000",
  };
  const config = loadConfig({
    ...process.env,
    ...shared,
    DATABASE_URL: direct.toString(),
    LOG_LEVEL: "silent",
  });
  const tools = new System(config, createLogger({ level: "silent", service: "chaos" }), {});
  progress(`database ${id}: migrations, topics and schemas`);
  try {
    // Once, before the services start: six processes creating the same topics at once would race.
    await retrying("bootstrap", () => tools.bootstrap());
  } catch (err) {
    await tools.pool.end().catch(() => undefined);
    await onMaintenanceDb(new URL(base.db.url), (c) => c.query(`DROP DATABASE IF EXISTS ${id} WITH (FORCE)`));
    throw err;
  }

  const proxy = await new TcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) }).start();
  const proxied = new URL(direct);
  proxied.port = String(proxy.port);
  const apiPort = await freePort();
  mkdirSync(opts.runDir, { recursive: true });
  const db = new pg.Pool({ connectionString: config.db.url, max: 4 });
  db.on("error", () => undefined);
  return {
    id,
    config,
    db,
    tools,
    proxy,
    stack,
    owned,
    serviceEnv: { ...process.env, ...shared, DATABASE_URL: proxied.toString(), LOG_LEVEL: "warn" },
    apiUrl: `http://127.0.0.1:${apiPort}`,
    apiPort,
    // Small pools: ten service processes share the server's max_connections with everyone else's work.
    envOf: (service) =>
      service === "api"
        ? { HTTP_HOST: "127.0.0.1", HTTP_PORT: String(apiPort), DATABASE_POOL_MAX: "8" }
        : { DATABASE_POOL_MAX: "4" },
    async dispose({ keepData }) {
      await proxy.stop().catch(() => undefined);
      await db.end().catch(() => undefined);
      if (!keepData) {
        await deleteKafkaState(tools, id).catch((err: unknown) => progress(`topic cleanup: ${String(err)}`));
        const admin = new URL(base.db.url);
        await onMaintenanceDb(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${id} WITH (FORCE)`));
      }
      await tools.pool.end().catch(() => undefined);
    },
  };
}

// Email retry: 200 ms ×3 per attempt up to 8 s, "equal jitter" (each delay at least half its nominal value).
const EMAIL_INITIAL_MS = 200;
const EMAIL_MAX_MS = 8000;

/**
 * Attempts such that even the shortest jittered delays add up to twice the outage plus 10 s: an email caught
 * by the outage (and by a Kafka restart or a kill on top of it) still finds the server up before its last try.
 */
export function emailAttemptsToOutlast(outageMs: number): number {
  let attempts = 1;
  let waited = 0;
  while (waited < 2 * outageMs + 10_000) {
    waited += Math.min(EMAIL_MAX_MS, EMAIL_INITIAL_MS * 3 ** (attempts - 1)) / 2;
    attempts++;
  }
  return attempts;
}

export const PROCESSOR_GROUPS: Readonly<Record<(typeof PROCESSORS)[number], string>> = {
  wallet: "wallet-service",
  notifications: "notification-service",
  email: "email-service",
  audit: "audit-service",
};

async function deleteKafkaState(tools: System, id: string): Promise<void> {
  const admin = await tools.bus.admin();
  try {
    const groups = Object.values(PROCESSOR_GROUPS).flatMap((g) => {
      const group = tools.names.group(g);
      return [group, tools.names.retryGroup(group)];
    });
    await admin.deleteGroups(groups).catch(() => undefined);
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${id}.`));
    await admin.deleteTopics(mine);
  } finally {
    await admin.close();
  }
}

async function onMaintenanceDb<T>(url: URL, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const u = new URL(url);
  u.pathname = "/postgres";
  const c = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A few attempts: someone else's test may be restarting the shared broker right now. */
async function retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt === 4) throw err;
      progress(`${what} failed (${(err as Error).message}); retrying in 5 s`);
      await sleep(5000);
    }
  }
}
