import { loadConfig } from "../infra/config.js";
import { createPool, type Pool } from "../infra/db/pool.js";

/**
 * Shared by the verification commands (`ledger:verify`, `audit:verify`): one database connection, the check's
 * own report on stdout, exit code 0 when it holds, 1 when it does not, 2 when it could not run.
 */
export async function runCheck(
  applicationName: string,
  check: (pool: Pool) => Promise<boolean>,
): Promise<void> {
  let pool: Pool | undefined;
  try {
    pool = createPool(loadConfig(), { max: 1, applicationName });
    process.exitCode = (await check(pool)) ? 0 : 1;
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 2;
  } finally {
    await pool?.end();
  }
}
