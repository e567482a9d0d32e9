// `npm run audit:verify`: recomputes the audit log's hash chain and names the first broken link (seq and event
// id). Exits 1 when the chain is broken, 2 when it cannot run, 0 otherwise.
import { verifyAuditChain } from "../processors/audit-verify.js";
import { runCheck } from "./check.js";

await runCheck("audit-verify", async (pool) => {
  const report = await verifyAuditChain(pool);
  console.table([
    { check: "rows checked", value: report.rows },
    { check: "last seq checked", value: report.lastSeq ?? "(empty log)" },
  ]);
  if (report.firstBroken) {
    const b = report.firstBroken;
    console.log(`AUDIT CHAIN BROKEN at seq ${b.seq} (event ${b.eventId}): ${b.detail}`);
  } else {
    console.log("audit chain verified: OK");
  }
  return report.ok;
});
