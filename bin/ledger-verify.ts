// `npm run ledger:verify`: proves every wallet's balance equals the sum of its ledger entries and the whole
// ledger sums to zero. Exits 1 on any violation, 0 otherwise.
import { verifyLedger } from "../api/money/verify.js";
import { loadConfig } from "../infra/config.js";
import { createPool } from "../infra/db/pool.js";

const config = loadConfig();
const pool = createPool(config, { max: 1, applicationName: "ledger-verify" });
try {
  const report = await verifyLedger(pool);
  console.table([
    { check: "wallets", value: report.wallets },
    { check: "transactions", value: report.transactions },
    { check: "ledger entries", value: report.entries },
    { check: "sum of all entries (must be 0)", value: report.total },
    { check: "wallets whose balance ≠ entries", value: report.balanceMismatches.length },
    { check: "transactions not summing to 0", value: report.unbalancedTransactions.length },
  ]);
  if (report.balanceMismatches.length) console.table(report.balanceMismatches);
  if (report.unbalancedTransactions.length) console.table(report.unbalancedTransactions);
  console.log(report.ok ? "ledger verified: OK" : "LEDGER VIOLATION");
  process.exitCode = report.ok ? 0 : 1;
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
} finally {
  await pool.end();
}
