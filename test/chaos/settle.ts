import { setTimeout as sleep } from "node:timers/promises";
import { processorCatalog } from "../../processors/index.js";
import { GroupOperations } from "../../processors/operations.js";
import { type ChaosEnv, PROCESSOR_GROUPS } from "./env.js";
import { PROCESSORS } from "./services.js";
import { progress } from "./timeline.js";

export interface SettleResult {
  readonly settled: boolean;
  readonly waitedMs: number;
  /** What was still pending at the end (all zero when settled). */
  readonly pending: Readonly<Record<string, number>>;
}

/**
 * Waits until the system has nothing left to do: no unpublished outbox row, no consumer lag in any group
 * (main and retry topics), nothing parked behind a key hold. Twice in a row, a second apart, so a record
 * between the relay and a consumer is not missed. Bounded: an unsettled system is checked anyway and the
 * checks say what is missing.
 */
export async function settle(env: ChaosEnv, timeoutMs: number): Promise<SettleResult> {
  const ops = new GroupOperations({ bus: env.tools.bus, pool: env.db, names: env.tools.names });
  const t0 = Date.now();
  let calm = 0;
  let lastSaid = 0;
  for (;;) {
    let pending: Record<string, number>;
    try {
      pending = await pendingWork(env, ops);
    } catch (err) {
      pending = { unreadable: 1 };
      progress(`settle: ${err instanceof Error ? err.message : String(err)}`);
    }
    const busy = Object.entries(pending).filter(([, n]) => n !== 0);
    calm = busy.length === 0 ? calm + 1 : 0;
    const waitedMs = Date.now() - t0;
    if (calm >= 2) return { settled: true, waitedMs, pending };
    if (waitedMs > timeoutMs) return { settled: false, waitedMs, pending };
    if (Date.now() - lastSaid > 5000 && busy.length > 0) {
      lastSaid = Date.now();
      progress(`settling: ${busy.map(([k, n]) => `${k} ${n}`).join(", ")}`);
    }
    await sleep(1000);
  }
}

async function pendingWork(env: ChaosEnv, ops: GroupOperations): Promise<Record<string, number>> {
  const { rows } = await env.db.query<{ outbox: number; parked: number }>(
    `SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL AND failed_at IS NULL)::int AS outbox,
            (SELECT count(*) FROM parked_records)::int AS parked`,
  );
  const pending: Record<string, number> = {
    "outbox rows": rows[0]?.outbox ?? 0,
    "parked records": rows[0]?.parked ?? 0,
  };
  const catalog = processorCatalog(env.config);
  for (const name of PROCESSORS) {
    const p = catalog.get(name);
    if (!p) continue;
    const lag = await ops.lag(p, { includeRetry: true, timestamps: false });
    pending[`${PROCESSOR_GROUPS[name]} lag`] = lag.reduce((n, r) => n + r.lag, 0);
  }
  return pending;
}
