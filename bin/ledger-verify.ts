// `npm run ledger:verify`: proves every wallet's balance equals the sum of its ledger entries and the whole
// ledger sums to zero. Exits 1 on any violation, 2 when it cannot run, 0 otherwise.
import { verifyLedger } from "../api/money/verify.js";
import { runCheck } from "./check.js";

await runCheck("ledger-verify", async (pool) => {
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
  return report.ok;
});
