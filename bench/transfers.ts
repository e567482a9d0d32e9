// `npm run bench:transfers [-- --duration 10 --rounds 3 --clients 1,16,64 --users 200 --extended --profile
//   --no-vacuum]`
// REST transfers (autocannon → API child process) against the same SQL transaction run by pgbench, on a fresh
// database of the local stack. See docs/benchmarks.md.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { verifyLedger } from "../api/money/verify.js";
import { loadConfig } from "../infra/config.js";
import { type BenchUser, runTransfers, setupUsers } from "./lib/api-load.js";
import { measureCpu } from "./lib/cpu.js";
import {
  assertAlive,
  bootstrap,
  Cleanup,
  codeVersion,
  createDatabase,
  deleteKafkaState,
  dropDatabase,
  freeConnections,
  freePort,
  ROOT,
  Service,
  until,
  waitHealthy,
  withDatabase,
} from "./lib/env.js";
import { parseOptions } from "./lib/options.js";
import { type PgbenchMode, runPgbench } from "./lib/pgbench.js";
import {
  cpuTable,
  phaseLine,
  type Round,
  summarizeRounds,
  TARGET,
  table,
  verdict,
  writeResults,
} from "./lib/report.js";

const opt = parseOptions();
const { seconds, clients: clientCounts, users: nUsers, warmup } = opt;
const roundsN = opt.rounds;

const t0 = performance.now();
const say = (msg: string) =>
  console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
const id = `bench_${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
const prefix = `bench${id.slice(6)}.`;
const baseUrl = loadConfig().db.url;
const dbUrl = withDatabase(baseUrl, id);
const work = mkdtempSync(join(tmpdir(), "walletstream-bench-"));
const resultsDir = join(ROOT, "bench", "results");
const cleanup = new Cleanup();
const services: Service[] = [];

// Bounded in time whatever happens: setup, every phase with slack, the checks and the cleanup.
const budgetS = 300 + warmup * 2 + roundsN * clientCounts.length * ((opt.extended ? 3 : 2) * seconds + 15);
const deadline = setTimeout(() => abort(`time budget of ${budgetS} s exceeded`, 1), budgetS * 1000);
deadline.unref();
let aborting = false;
// A second signal does not cut the clean-up short (it would leave processes, topics and the database behind).
async function abort(reason: string, code: number): Promise<never> {
  say(aborting ? `${reason} again: still cleaning up` : `stopping: ${reason}`);
  aborting = true;
  await cleanup.run(say);
  process.exit(code);
}
process.on("SIGINT", () => void abort("interrupted", 130));
process.on("SIGTERM", () => void abort("terminated", 143));

async function main(): Promise<void> {
  const code = codeVersion();
  say(
    `${id} (code ${code}): ${roundsN} round(s) × clients ${clientCounts.join(",")} × ${seconds} s, ${nUsers} users; budget ${budgetS} s`,
  );
  cleanup.add(`removed ${work}`, async () => rmSync(work, { recursive: true, force: true }));
  await createDatabase(baseUrl, id);
  cleanup.add(`dropped database ${id}`, () => dropDatabase(baseUrl, id));
  cleanup.add(`deleted Kafka topics ${prefix}* and group`, () =>
    deleteKafkaState({ ...process.env, DATABASE_URL: dbUrl }, prefix, [`${prefix}wallet-service`]),
  );
  const port = await freePort();
  const env = {
    ...process.env,
    DATABASE_URL: dbUrl,
    TOPIC_PREFIX: prefix,
    GROUP_PREFIX: prefix,
    HTTP_PORT: String(port),
    LOG_LEVEL: "warn",
    DATABASE_POOL_MAX: String(opt.pool),
  };
  await bootstrap(env, say);
  const profDir = join(resultsDir, `profile-${id}`);
  const prof = (name: string) => (opt.profile ? ["--cpu-prof", `--cpu-prof-dir=${join(profDir, name)}`] : []);
  const workers = [
    new Service("relay", ["bin/relay.ts"], env, join(work, "relay.log"), prof("relay")),
    new Service("processor", ["bin/processor.ts", "wallet"], env, join(work, "processor.log")),
  ];
  const api = new Service("api", ["bin/api.ts"], env, join(work, "api.log"), prof("api"));
  services.push(...workers, api);
  for (const s of services) cleanup.add(`stopped ${s.name}`, () => s.stop());
  const base = `http://127.0.0.1:${port}`;
  const alive = () => assertAlive(services);
  // Up to three starts: the shared broker may be restarting under someone else's test, and the services exit
  // when Kafka drops them during start-up.
  for (let attempt = 1; ; attempt++) {
    for (const s of services) s.start();
    try {
      await waitHealthy(`${base}/healthz`, alive, 90_000);
      break;
    } catch (err) {
      if (attempt === 3) throw err;
      say(`start-up failed (${(err as Error).message.split("\n")[0]}); starting again in 10 s`);
      await Promise.all(services.map((s) => s.stop()));
      await sleep(10_000);
    }
  }
  say(
    `API (pid ${api.pid}) on ${base}; relay (pid ${workers[0]?.pid}), wallet processor (pid ${workers[1]?.pid})`,
  );

  const db = new pg.Pool({ connectionString: dbUrl, max: 2 });
  cleanup.add("closed the benchmark's own pool", () => db.end());
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
  const file = writeResults(resultsDir, {
    id,
    at: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      loadavg: loadavg(),
      node: process.version,
      postgres: pg_.rows[0]?.v,
    },
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
    code,
  });
  say(`raw figures: ${file}`);
  if (opt.profile)
    say(`CPU profiles: ${profDir}/{api,relay} (written when they stop; see bench/profile-summary.ts)`);
  if (!ledger.ok || failed > 0) process.exitCode = 1;
}

try {
  await main();
} catch (err) {
  say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  for (const s of services) console.log(`--- last lines of ${s.name}'s log:\n${s.tail()}`);
  process.exitCode = 1;
}
clearTimeout(deadline);
await cleanup.run(say);
say("done");
// Stray handles (a keep-alive socket of fetch, autocannon's timers) must not keep a finished run alive.
await sleep(100);
process.exit(process.exitCode ?? 0);
