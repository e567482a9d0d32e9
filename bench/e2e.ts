// `npm run bench:e2e [-- --rate 200 --duration 60 --rounds 3 --capacity 10 --poll-ms 25 --max-inflight 256
//   --hash-memory-kib 0 --hash-iterations 0]` (0: the production argon2id cost, OWASP's minimum)
// Registration → wallet visible over HTTP: an open-loop schedule of POST /v1/users, and for each registration
// GET /v1/wallets/me until the wallet exists; API, relay and wallet processor as in production, each in its
// own process. See docs/benchmarks.md.
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { tokenService } from "../api/auth.js";
import { loadConfig } from "../infra/config.js";
import { type ApiRun, runRegistrations } from "./lib/api-load.js";
import { freePort, waitHealthy } from "./lib/env.js";
import { openLoop } from "./lib/events.js";
import { BenchRun, check } from "./lib/harness.js";
import { numericOptions } from "./lib/options.js";
import { type LatencySummary, median, summarize } from "./lib/stats.js";

const opt = numericOptions({
  rate: 200,
  duration: 60,
  rounds: 3,
  capacity: 10,
  "poll-ms": 25,
  timeout: 30,
  "max-inflight": 256,
  // argon2id cost of the API's password hashes (PASSWORD_HASH_MEMORY_KIB / _ITERATIONS); 0 keeps the default.
  "hash-memory-kib": 0,
  "hash-iterations": 0,
});
const TARGET = { p99Ms: 250 } as const;
const run = new BenchRun(
  "e2e",
  240 + opt.rounds * (opt.capacity + 2 * (opt.duration + opt.timeout + 30)) + opt.timeout,
);
const { say } = run;

interface Phase {
  readonly rate: number;
  readonly scheduled: number;
  readonly registered: number;
  readonly visible: number;
  readonly failed: number;
  readonly failures: Record<string, number>;
  /** Registration response received → first 200 from GET /v1/wallets/me. */
  readonly visibleMs: LatencySummary;
  /** Scheduled send time → registration response (queueing in the client and the API included). */
  readonly registerMs: LatencySummary;
  /** The same path measured inside PostgreSQL: users.created_at → wallets.created_at (no polling). */
  readonly dbMs: LatencySummary;
  readonly achievedPerSec: number;
  readonly maxLateMs: number;
  readonly polls: number;
}

interface Round {
  readonly round: number;
  readonly capacity: ApiRun;
  readonly phases: Phase[];
}

await run.run(async () => {
  say(
    `${run.id} (code ${run.code}): ${opt.rounds} round(s): capacity ${opt.capacity} s, then ${opt.rate} registrations/s ` +
      `for ${opt.duration} s (open loop), polling every ${opt["poll-ms"]} ms; password hashes: argon2id ` +
      `${opt["hash-memory-kib"] || "19456 (default)"} KiB × ${opt["hash-iterations"] || "2 (default)"}; budget ${run.budgetS} s`,
  );
  await run.setUp();
  const port = await freePort();
  const hashCost = {
    ...(opt["hash-memory-kib"] ? { PASSWORD_HASH_MEMORY_KIB: String(opt["hash-memory-kib"]) } : {}),
    ...(opt["hash-iterations"] ? { PASSWORD_HASH_ITERATIONS: String(opt["hash-iterations"]) } : {}),
  };
  const env = run.env({ HTTP_PORT: String(port), ...hashCost });
  const base = `http://127.0.0.1:${port}`;
  run.group("wallet-service");
  const services = [
    run.service("relay", ["bin/relay.ts"], env),
    run.service("wallet processor", ["bin/processor.ts", "wallet"], env),
    run.service("api", ["bin/api.ts"], env),
  ];
  await run.startAll(services, (alive) => waitHealthy(`${base}/healthz`, alive, 90_000));
  say(`API on ${base}; relay and wallet processor running`);
  const config = loadConfig(env);
  const tokens = tokenService({
    secret: config.auth.jwtSecret,
    issuer: config.auth.jwtIssuer,
    ttlSeconds: config.auth.jwtTtlSeconds,
  });
  const db = new pg.Pool({ connectionString: run.dbUrl, max: 2 });
  run.cleanup.add("closed the benchmark's pool", () => db.end());

  /** One open-loop phase at `rate`/s; every registration followed by polling until its wallet is visible. */
  const phase = async (rate: number, tag: string): Promise<Phase> => {
    const visible: number[] = [];
    const registerMs: number[] = [];
    const failures: Record<string, number> = {};
    const fail = (why: string) => {
      failures[why] = (failures[why] ?? 0) + 1;
    };
    const userIds: string[] = [];
    let polls = 0;
    const inFlight = new Set<Promise<void>>();
    const t0 = performance.now();
    const one = async (i: number) => {
      const due = t0 + (i / rate) * 1000;
      const deadline = due + opt.timeout * 1000;
      try {
        const res = await fetch(`${base}/v1/users`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            email: `${run.id}-${tag}-${i}@bench.example.com`,
            password: "benchmark password",
            displayName: `Bench ${i}`,
          }),
          signal: AbortSignal.timeout(Math.max(1, Math.ceil(deadline - performance.now()))),
        });
        const body = (await res.json()) as { id?: string };
        if (res.status !== 201 || !body.id) return fail(`register ${res.status}`);
        const registeredAt = performance.now();
        registerMs.push(registeredAt - due);
        userIds.push(body.id);
        const { accessToken } = await tokens.issue(body.id);
        for (;;) {
          polls++;
          const r = await fetch(`${base}/v1/wallets/me`, {
            headers: { authorization: `Bearer ${accessToken}` },
            signal: AbortSignal.timeout(Math.max(1, Math.ceil(deadline - performance.now()))),
          });
          await r.arrayBuffer();
          if (r.status === 200) {
            visible.push(performance.now() - registeredAt);
            return;
          }
          if (r.status !== 404) return fail(`wallet ${r.status}`);
          if (performance.now() > deadline) return fail("wallet not visible in time");
          await sleep(opt["poll-ms"]);
        }
      } catch (err) {
        fail((err as Error).name === "TimeoutError" ? "timeout" : (err as Error).message.slice(0, 80));
      }
    };
    const progress = setInterval(
      () =>
        say(
          `  ${tag}: ${registerMs.length} registered, ${visible.length} visible, ${inFlight.size} in flight`,
        ),
      10_000,
    );
    try {
      const schedule = await openLoop(rate, opt.duration, (first, count) => {
        for (let i = first; i < first + count; i++) {
          // Past the cap the API is not keeping up: an arrival is counted as shed instead of queueing without
          // bound (the API would still be hashing abandoned passwords during the next phase).
          if (inFlight.size >= opt["max-inflight"]) {
            fail("shed (in-flight cap)");
            continue;
          }
          const p = one(i).finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
      });
      await Promise.all(inFlight);
      const { rows } = await db.query<{ ms: number }>(
        `SELECT (extract(epoch FROM w.created_at - u.created_at) * 1000)::float8 AS ms
           FROM users u JOIN wallets w ON w.user_id = u.id WHERE u.id = ANY($1::uuid[])`,
        [userIds],
      );
      return {
        rate,
        scheduled: schedule.fired,
        registered: registerMs.length,
        visible: visible.length,
        failed: Object.values(failures).reduce((a, b) => a + b, 0),
        failures,
        visibleMs: summarize(visible),
        registerMs: summarize(registerMs),
        dbMs: summarize(rows.map((r) => r.ms)),
        achievedPerSec: registerMs.length / opt.duration,
        maxLateMs: schedule.maxLateMs,
        polls,
      };
    } finally {
      clearInterval(progress);
    }
  };
  const describe = (p: Phase) =>
    `${p.rate}/s: ${p.registered}/${p.scheduled} registered (${p.achievedPerSec.toFixed(0)}/s), ${p.visible} visible, ` +
    `${p.failed} failed ${JSON.stringify(p.failures)}; visible p50 ${p.visibleMs.p50} ms p99 ${p.visibleMs.p99} ms; ` +
    `register p50 ${p.registerMs.p50} p99 ${p.registerMs.p99} ms; in PostgreSQL p50 ${p.dbMs.p50} p99 ${p.dbMs.p99} ms`;

  const rounds: Round[] = [];
  for (let round = 1; round <= opt.rounds; round++) {
    const tag = `round ${round}/${opt.rounds}`;
    const capacity = await runRegistrations(base, `${run.id}-r${round}`, 8, opt.capacity);
    say(
      `${tag} capacity: ${capacity.txPerSec.toFixed(0)} registrations/s closed loop (8 connections, autocannon), ` +
        `p50 ${capacity.latency.p50} ms p99 ${capacity.latency.p99} ms, non-2xx ${capacity.non2xx}`,
    );
    await sleep(3000); // let the relay and the processor catch up with the capacity phase's wallets
    const phases = [await phase(opt.rate, `r${round}-target`)];
    say(`${tag} ${describe(phases[0] as Phase)}`);
    // Not sustainable: the same measurement at 80 % of what the API sustained, where latency means something.
    const sustainable = Math.floor(capacity.txPerSec * 0.8);
    if (sustainable < opt.rate && sustainable > 0) {
      await sleep(3000);
      phases.push(await phase(sustainable, `r${round}-sustainable`));
      say(`${tag} ${describe(phases[1] as Phase)}`);
    }
    rounds.push({ round, capacity, phases });
  }

  const at = (r: Round, target: boolean) => (target ? r.phases[0] : r.phases[1]);
  const row = (name: string, target: boolean) => {
    const ps = rounds.map((r) => at(r, target)).filter((p): p is Phase => p !== undefined);
    if (ps.length === 0) return undefined;
    const m = (f: (p: Phase) => number) => median(ps.map(f));
    return {
      name,
      rate: m((p) => p.rate),
      achieved: m((p) => p.achievedPerSec),
      visible: `${ps.reduce((a, p) => a + p.visible, 0)}/${ps.reduce((a, p) => a + p.scheduled, 0)}`,
      p50: m((p) => p.visibleMs.p50),
      p99: m((p) => p.visibleMs.p99),
      regP99: m((p) => p.registerMs.p99),
      dbP50: m((p) => p.dbMs.p50),
      dbP99: m((p) => p.dbMs.p99),
    };
  };
  const rows = [row("target rate", true), row("80 % of capacity", false)].filter((r) => r !== undefined);
  const capacity = median(rounds.map((r) => r.capacity.txPerSec));
  const target = rows[0];
  const sustained = target !== undefined && target.achieved >= target.rate * 0.95;
  const v = check(
    sustained && (target?.p99 ?? Number.POSITIVE_INFINITY) <= TARGET.p99Ms,
    `at ${opt.rate}/s: ${sustained ? "sustained" : `NOT sustained (the API registers ${capacity.toFixed(0)}/s at most)`}, ` +
      `p99 registration → wallet visible ${target?.p99} ms (target ≤ ${TARGET.p99Ms} ms)`,
  );
  console.log(
    `\nMedians over ${opt.rounds} round(s), ${opt.duration} s per phase; API capacity (closed loop) ${capacity.toFixed(0)} registrations/s\n\n` +
      "| phase | rate /s | registered /s | visible / scheduled | visible p50 ms | visible p99 ms | register p99 ms | in PostgreSQL p50 / p99 ms |\n" +
      "|---|---:|---:|---:|---:|---:|---:|---:|\n" +
      rows
        .map(
          (r) =>
            `| ${r.name} | ${r.rate} | ${r.achieved.toFixed(0)} | ${r.visible} | ${r.p50} | ${r.p99} | ${r.regP99} | ${r.dbP50} / ${r.dbP99} |`,
        )
        .join("\n") +
      "\n",
  );
  console.log(`${v.text}\n`);
  run.printMemory();
  say(
    `raw figures: ${run.writeResults({ options: opt, target: TARGET, verdict: v, capacity, rows, rounds })}`,
  );
});
