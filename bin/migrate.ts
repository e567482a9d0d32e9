// `npm run migrate`: applies the SQL migrations in infra/db/migrations (services also do it at start-up).
import { loadConfig } from "../infra/config.js";
import { migrate } from "../infra/db/migrate.js";
import { createLogger } from "../infra/log.js";

const config = loadConfig();
const log = createLogger({ level: config.logLevel, service: "migrate" });
try {
  const { from, to } = await migrate(config.db.url, log);
  log.info({ from, to }, from === to ? "database is up to date" : "database migrated");
} catch (err) {
  log.fatal({ err }, "migration failed");
  process.exit(1);
}
