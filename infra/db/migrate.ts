import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import pg from "pg";
import Postgrator from "postgrator";
import type { Logger } from "../log.js";

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));

import { ADVISORY_LOCKS } from "./locks.js";

// Concurrent start-ups migrate one at a time.
const MIGRATION_LOCK = ADVISORY_LOCKS.migrations;

/**
 * Applies the versioned SQL files in infra/db/migrations (NNN.do.sql) with postgrator. Safe to call from
 * every service at start-up: an advisory lock serializes them and applied versions are skipped.
 */
export async function migrate(databaseUrl: string, log: Logger): Promise<{ from: number; to: number }> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    const postgrator = new Postgrator({
      migrationPattern: `${MIGRATIONS}/*`,
      driver: "pg",
      schemaTable: "schema_version",
      execQuery: (query) => client.query(query),
    });
    const from = Number(await postgrator.getDatabaseVersion());
    const applied = await postgrator.migrate();
    const to = applied.length ? Number(applied[applied.length - 1]?.version) : from;
    if (applied.length) log.info({ from, to, files: applied.map((m) => m.filename) }, "migrations applied");
    return { from, to };
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => undefined);
    await client.end();
  }
}

export function latestMigrationVersion(): number {
  return Math.max(
    ...readdirSync(MIGRATIONS)
      .map((f) => Number.parseInt(f, 10))
      .filter(Number.isFinite),
  );
}
