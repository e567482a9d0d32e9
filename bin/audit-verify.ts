// `npm run audit:verify`: recomputes the audit log's hash chain and names the first broken link (seq and event
// id). Exits 1 when the chain is broken, 0 otherwise.
import { loadConfig } from "../infra/config.js";
import { createPool } from "../infra/db/pool.js";
import { verifyAuditChain } from "../processors/audit-verify.js";

const config = loadConfig();
const pool = createPool(config, { max: 1, applicationName: "audit-verify" });
try {
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
  process.exitCode = report.ok ? 0 : 1;
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
} finally {
  await pool.end();
}
