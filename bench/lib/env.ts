import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { System } from "../../bin/system.js";
import { loadConfig } from "../../infra/config.js";
import { createLogger } from "../../infra/log.js";

/** The repository root (bench/lib/../..). */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

async function onMaintenanceDb<T>(baseUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({
    connectionString: withDatabase(baseUrl, "postgres"),
    connectionTimeoutMillis: 5000,
  });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createDatabase(baseUrl: string, name: string): Promise<void> {
  await onMaintenanceDb(baseUrl, (c) => c.query(`CREATE DATABASE ${name}`));
}

export async function dropDatabase(baseUrl: string, name: string): Promise<void> {
  await onMaintenanceDb(baseUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/** Connections still free on the server for a client that is not a superuser-reserved one. */
export async function freeConnections(baseUrl: string): Promise<number> {
  return onMaintenanceDb(baseUrl, async (c) => {
    const { rows } = await c.query<{ free: number }>(
      `SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
              - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS free`,
    );
    return rows[0]?.free ?? 0;
  });
}

/** Deletes the run's topics (by prefix) and consumer groups, as test/support/harness.ts does. */
export async function deleteKafkaState(env: NodeJS.ProcessEnv, prefix: string, groups: string[]) {
  const config = loadConfig(env);
  const system = new System(config, createLogger({ level: "silent", service: "bench-cleanup" }), {});
  try {
    const admin = await system.bus.admin();
    try {
      const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
      // Each processor group has its retry topics' group next to it (infra/topics.ts retryGroup).
      await admin.deleteGroups(groups.flatMap((g) => [g, system.names.retryGroup(g)])).catch(() => undefined);
      await admin.deleteTopics(mine);
      return mine.length;
    } finally {
      await admin.close();
    }
  } finally {
    await system.pool.end();
  }
}

export { freePort } from "../../infra/stack/proc.js";

/** A walletstream entry point (bin/*.ts) in its own Node process, output to a log file. */
export class Service {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly script: string[],
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
    private readonly nodeArgs: string[] = [],
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Exit code once it died on its own (null while running). */
  get exitCode(): number | null {
    return this.child?.exitCode ?? null;
  }

  start(): void {
    const fd = openSync(this.logFile, "a");
    // One process per service: node --import tsx, not the tsx CLI (which would fork a second node).
    this.child = spawn(process.execPath, [...this.nodeArgs, "--import", "tsx", ...this.script], {
      cwd: ROOT,
      env: this.env,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    const child = this.child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  }

  /** SIGTERM (the entry points shut down cleanly), SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 20_000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const done = await Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!done) {
      child.kill("SIGKILL");
      await this.exited;
    }
  }

  tail(lines = 15): string {
    try {
      return readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }
}

/** Polls `fn` every 200 ms until it returns true, or throws after `timeoutMs`. */
export async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

/**
 * Migrations, topics and schemas once, before the services start (they would race to create the topics). A few
 * attempts: the shared stack's broker may be restarting (other people's tests do that).
 */
export async function bootstrap(env: NodeJS.ProcessEnv, say: (m: string) => void): Promise<void> {
  const boot = new System(loadConfig(env), createLogger({ level: "fatal", service: "bench" }), {});
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await boot.bootstrap();
      } catch (err) {
        if (attempt === 4) throw err;
        say(`bootstrap failed (${(err as Error).message}); retrying in 10 s`);
        await sleep(10_000);
      }
    }
  } finally {
    await boot.pool.end();
  }
}

export function assertAlive(services: readonly Service[]): void {
  for (const s of services) {
    if (s.exitCode !== null) throw new Error(`${s.name} exited with ${s.exitCode}:\n${s.tail()}`);
  }
}

/** The measured code: HEAD's commit, "+dirty" when the application's sources differ from it. */
export function codeVersion(): string {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
  try {
    const dirty = git(
      "status",
      "--porcelain",
      "--",
      "api",
      "producers",
      "processors",
      "infra",
      "bin",
      "schemas",
    );
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? "+dirty" : ""}`;
  } catch {
    return "unknown";
  }
}

/** Polls `url` until it answers 2xx; `check` throws to give up early (a service died). */
export async function waitHealthy(url: string, check: () => void, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await fetch(url).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    check();
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

/** Cleanup steps run once, newest first, whatever ended the run (success, error, Ctrl-C, deadline). */
export class Cleanup {
  private steps: { name: string; fn: () => Promise<unknown> }[] = [];
  private running: Promise<void> | undefined;

  add(name: string, fn: () => Promise<unknown>): void {
    this.steps.push({ name, fn });
  }

  run(log: (msg: string) => void): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.fn();
          log(`cleanup: ${step.name}`);
        } catch (err) {
          log(`cleanup: ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    return this.running;
  }
}
