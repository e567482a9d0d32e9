// `npm run bench:transfers [-- --duration 10 --rounds 3 --clients 1,16,64 --users 200 --extended --profile
//   --no-vacuum]`
// REST transfers (autocannon → API child process) against the same SQL transaction run by pgbench, on a fresh
// database of the local stack. See docs/benchmarks.md.
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { verifyLedger } from "../api/money/verify.js";
import { type BenchUser, runTransfers, setupUsers } from "./lib/api-load.js";
import { measureCpu } from "./lib/cpu.js";
import { assertAlive, freeConnections, freePort, ROOT, until, waitHealthy } from "./lib/env.js";
import { BenchRun } from "./lib/harness.js";
import { parseOptions } from "./lib/options.js";
import { type PgbenchMode, runPgbench } from "./lib/pgbench.js";
import { cpuTable, phaseLine, type Round, summarizeRounds, TARGET, table, verdict } from "./lib/report.js";

const opt = parseOptions();
const { seconds, clients: clientCounts, users: nUsers, warmup } = opt;
const roundsN = opt.rounds;

// Bounded in time whatever happens: setup, every phase with slack, the checks and the cleanup.
const budgetS = 300 + warmup * 2 + roundsN * clientCounts.length * ((opt.extended ? 3 : 2) * seconds + 15);
const run = new BenchRun("transfers", budgetS);
const { say, id, dbUrl, baseUrl, work } = run;

await run.run(async () => {
  say(
    `${id} (code ${run.code}): ${roundsN} round(s) × clients ${clientCounts.join(",")} × ${seconds} s, ${nUsers} users; budget ${budgetS} s`,
  );
  run.group("wallet-service");
  await run.setUp();
  const port = await freePort();
  const env = run.env({ HTTP_PORT: String(port), DATABASE_POOL_MAX: String(opt.pool) });
  const profDir = join(run.resultsDir, `profile-${id}`);
  const prof = (name: string) => (opt.profile ? ["--cpu-prof", `--cpu-prof-dir=${join(profDir, name)}`] : []);
  const workers = [
    run.service("relay", ["bin/relay.ts"], env, prof("relay")),
    run.service("processor", ["bin/processor.ts", "wallet"], env),
  ];
  const api = run.service("api", ["bin/api.ts"], env, prof("api"));
  const services = [...workers, api];
  const base = `http://127.0.0.1:${port}`;
  const alive = () => assertAlive(services);
  await run.startAll(services, (ok) => waitHealthy(`${base}/healthz`, ok, 90_000));
  say(
    `API (pid ${api.pid}) on ${base}; relay (pid ${workers[0]?.pid}), wallet processor (pid ${workers[1]?.pid})`,
  );

  const db = new pg.Pool({ connectionString: dbUrl, max: 2 });
  run.cleanup.add("closed the benchmark's own pool", () => db.end());
  const users: BenchUser[] = await setupUsers(base, nUsers, 1_000_000_000, id, say);
  await db.query(
    `CREATE TABLE bench_wallets (n int PRIMARY KEY, user_id uuid NOT NULL, wallet_id uuid NOT NULL);
     ANALYZE wallets`,
  );
  await db.query(
    "INSERT INTO bench_wallets SELECT n, u, w FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS t (u, w, n)",
    [users.map((u) => u.userId), users.map((u) => u.walletId)],
  );
  const roles = { api: [api.pid ?? -1], workers: workers.map((w) => w.pid ?? -1), database: id };
  const pgbench = (clients: number, secs: number, mode: PgbenchMode = "prepared") =>
    runPgbench({
      mode,
      bin: opt.pgbench,
      dbUrl,
      script: join(ROOT, "bench", "transfer.pgbench.sql"),
      clients,
      seconds: secs,
      vars: { nwallets: nUsers },
      logDir: work,
    });
  // Like pgbench does before its own runs: each phase starts from a vacuumed, analyzed database (this server
  // runs with autovacuum off, and the relay's poll of the outbox slows down with every dead index entry).
  const vacuum = async () => {
    if (opt.vacuum)
      await db.query("VACUUM (ANALYZE) outbox, wallets, idempotency_keys, transactions, ledger_entries");
  };
  const count = async (where: string) =>
    Number((await db.query(`SELECT count(*)::int AS n FROM outbox WHERE ${where}`)).rows[0]?.n);
  const pending = () => count("published_at IS NULL AND failed_at IS NULL");

  if (warmup > 0) {
    say(`warm-up: API and pgbench, 16 clients, ${warmup} s each (not recorded)`);
    await runTransfers(base, users, 16, warmup);
    await pgbench(16, warmup);
  }
  const rounds: Round[] = [];
  for (let round = 1; round <= roundsN; round++) {
    for (const clients of clientCounts) {
      alive();
      await vacuum();
      const stopCpu = measureCpu(roles);
      const apiRun = await runTransfers(base, users, clients, seconds);
      const cpuApi = stopCpu();
      const outboxPendingAfterApi = await pending();
      const tag = `round ${round}/${roundsN} c=${String(clients).padStart(2)}`;
      say(
        `${tag} API     ${phaseLine(apiRun.txPerSec, apiRun.latency, cpuApi)}  non-2xx ${apiRun.non2xx}  errors ${apiRun.errors}  outbox pending ${outboxPendingAfterApi}`,
      );
      const load1 = loadavg()[0] ?? 0;
      const pgPhase = async (mode: PgbenchMode) => {
        // pgbench needs `clients` connections: let the API's idle pool connections time out if the server is full.
        await until(
          "free connections",
          async () => (await freeConnections(baseUrl)) >= clients + 2,
          40_000,
        ).catch((err: Error) => say(`warning: ${err.message}; pgbench may fail to connect`));
        await vacuum();
        const stop = measureCpu(roles);
        const run = await pgbench(clients, seconds, mode);
        const cpu = stop();
        say(
          `${tag} pgbench ${phaseLine(run.tps, run.latency, cpu)}  -M ${mode}  failed ${run.failed}${run.error ? `  ERROR ${run.error}` : ""}`,
        );
        return { run, cpu };
      };
      const pg = await pgPhase("prepared");
      const load2 = loadavg()[0] ?? 0;
      const ext = opt.extended ? await pgPhase("extended") : undefined;
      rounds.push({
        round,
        api: apiRun,
        pgbench: pg.run,
        pgbenchExtended: ext?.run,
        cpu: { api: cpuApi, pgbench: pg.cpu, ...(ext ? { pgbenchExtended: ext.cpu } : {}) },
        load: [load1, load2],
        outboxPendingAfterApi,
      });
    }
  }

  const rows = summarizeRounds(clientCounts, rounds);
  const v = verdict(rows);
  console.log(
    `\nMedians over ${roundsN} round(s), ${seconds} s each, ${nUsers} wallets:\n\n${table(rows)}\n`,
  );
  console.log(
    `CPU (cores in use, median per phase; the machine has ${cpus().length}):\n\n${cpuTable(rows)}\n`,
  );
  console.log(
    `${v.text}  (target: at ${TARGET.clients} clients API ≥ ${TARGET.ratio * 100} % of pgbench, p99 ≤ ${TARGET.p99Ms} ms)\n`,
  );

  say("waiting for the relay to publish the outbox (≤ 60 s)");
  const drained = await until("outbox drained", async () => (await pending()) === 0, 60_000).then(
    () => true,
    () => false,
  );
  const ledger = await verifyLedger(db);
  // Rows the relay could not encode (pgbench's payloads must match the schemas as the API's do).
  const failed = await count("failed_at IS NOT NULL");
  say(
    `ledger: ${ledger.ok ? "verified OK" : "VIOLATION"} — ${ledger.wallets} wallets, ${ledger.transactions} transactions, ` +
      `${ledger.entries} entries, sum ${ledger.total}, ${ledger.balanceMismatches.length} balance mismatches, ` +
      `${ledger.unbalancedTransactions.length} unbalanced; outbox ${drained ? "drained" : `NOT drained (${await pending()} pending)`}, ${failed} unpublishable`,
  );
  const pg_ = await db.query<{ v: string }>(
    `SELECT version() || ' (' || string_agg(name || '=' || setting, ', ' ORDER BY name) || ')' AS v FROM pg_settings
      WHERE name IN ('autovacuum', 'synchronous_commit', 'shared_buffers', 'max_connections', 'fsync')`,
  );
  const file = run.writeResults({
    postgres: pg_.rows[0]?.v,
    options: {
      seconds,
      rounds: roundsN,
      clients: clientCounts,
      users: nUsers,
      warmup,
      apiPoolMax: opt.pool,
      extended: opt.extended,
      vacuum: opt.vacuum,
    },
    target: TARGET,
    verdict: v,
    rows,
    rounds,
    ledger,
    outboxDrained: drained,
    outboxFailed: failed,
  });
  say(`raw figures: ${file}`);
  if (opt.profile)
    say(`CPU profiles: ${profDir}/{api,relay} (written when they stop; see bench/profile-summary.ts)`);
  run.printMemory();
  if (!ledger.ok || failed > 0) process.exitCode = 1;
});
