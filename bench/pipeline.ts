// `npm run bench:pipeline [-- --events 100000 --rounds 3 --profile]`
// user_registered → wallet created: the wallet processor (bin/processor.ts wallet) draining a backlog, against
// the same consumer stack with a no-op handler (client limit) and Kafka's ConsumerPerformance (broker limit),
// on the same topic in the same run. See docs/benchmarks.md.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { measureCpu } from "./lib/cpu.js";
import { assertAlive, type Service } from "./lib/env.js";
import { BenchEvents, waitDrained } from "./lib/events.js";
import { BenchRun, check } from "./lib/harness.js";
import { type KafkaPerfRun, runKafkaConsumerPerf } from "./lib/kafka-perf.js";
import { numericOptions } from "./lib/options.js";
import { median } from "./lib/stats.js";

const opt = numericOptions({ events: 100_000, rounds: 3 }, ["profile"]);
const TARGET = { walletOverNoop: 0.5 } as const;
// Slowest expected drain (the wallet processor) ≥ 100 events/s, plus start-up.
const drainTimeoutS = 90 + Math.ceil(opt.events / 100);
const run = new BenchRun("pipeline", 240 + Math.ceil(opt.events / 1000) + opt.rounds * (drainTimeoutS + 180));
const { say } = run;

interface Drain {
  readonly events: number;
  /** Events over the time from the first to the last record handled: start-up excluded. */
  readonly perSec: number;
  /** All events over spawn → lag 0 (start-up, group join and bootstrap included). */
  readonly perSecFromSpawn: number;
  readonly seconds: number;
  readonly secondsFromSpawn: number;
  /** Spawn → first record handled. */
  readonly startupSeconds: number;
  readonly cpu: Record<string, number>;
}

interface Round {
  readonly round: number;
  readonly kafkaPerf: KafkaPerfRun;
  readonly noop: Drain;
  readonly runnerNoop: Drain;
  readonly wallet: Drain;
}

await run.run(async () => {
  say(
    `${run.id} (code ${run.code}): ${opt.events} user_registered, ${opt.rounds} round(s) of kafka-consumer-perf, ` +
      `no-op consumer, wallet processor; budget ${run.budgetS} s`,
  );
  await run.setUp();
  const events = new BenchEvents(run.env());
  run.cleanup.add("closed the benchmark's Kafka clients", () => events.close());
  const db = new pg.Pool({ connectionString: run.dbUrl, max: 2 });
  run.cleanup.add("closed the benchmark's pool", () => db.end());
  const topic = events.userTopic;

  const t = performance.now();
  await events.fillUsers(run.id, opt.events, (n) => say(`produced ${n}/${opt.events}`));
  const produceS = (performance.now() - t) / 1000;
  say(
    `produced ${opt.events} user_registered to ${topic} (${events.partitions} partitions) in ${produceS.toFixed(1)} s (setup)`,
  );

  /**
   * Spawns a consumer process, waits until group `group` has no lag on the topic and `done` agrees, stops it,
   * and takes the window of its work from `window` (first and last record handled, epoch ms).
   */
  const drain = async (
    name: string,
    script: string[],
    env: NodeJS.ProcessEnv,
    group: string,
    done: () => Promise<boolean>,
    window: (s: Service) => Promise<[number, number]>,
    nodeArgs: string[] = [],
  ): Promise<Drain> => {
    const s = run.service(name, script, env, nodeArgs);
    const spawnAt = Date.now();
    const spawnPerf = performance.now();
    run.start(s);
    const stopCpu = measureCpu({ api: [], workers: [s.pid ?? -1], database: run.id });
    const r = await waitDrained({
      probe: async () => {
        const l = await events.lag(group, [topic]);
        return { count: l.committed, done: l.lag === 0 && l.total > 0 && (await done()) };
      },
      timeoutMs: drainTimeoutS * 1000,
      check: () => assertAlive([s]),
      progress: (n) => say(`  ${name}: ${n}/${opt.events} committed`),
    });
    const cpu = stopCpu();
    await s.stop();
    const [first, last] = await window(s);
    const seconds = (last - first) / 1000;
    const secondsFromSpawn = (r.doneAt - spawnPerf) / 1000;
    return {
      events: opt.events,
      perSec: (opt.events - 1) / seconds,
      perSecFromSpawn: opt.events / secondsFromSpawn,
      seconds,
      secondsFromSpawn,
      startupSeconds: (first - spawnAt) / 1000,
      cpu,
    };
  };
  const cores = (cpu: Record<string, number>) =>
    Object.entries(cpu)
      .filter(([, v]) => v >= 0.05)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(", ");
  const line = (d: Drain) =>
    `${d.perSec.toFixed(0).padStart(6)} events/s (${d.seconds.toFixed(1)} s; from spawn ${d.perSecFromSpawn.toFixed(0)}/s, ${d.secondsFromSpawn.toFixed(1)} s, start-up ${d.startupSeconds.toFixed(1)} s)  cores: ${cores(d.cpu)}`;

  const rounds: Round[] = [];
  for (let round = 1; round <= opt.rounds; round++) {
    const tag = `round ${round}/${opt.rounds}`;
    const perfGroup = run.group(`perf-r${round}`);
    const kafkaPerf = await runKafkaConsumerPerf({
      topic,
      group: perfGroup,
      messages: opt.events,
      timeoutMs: drainTimeoutS * 1000,
      onSpawn: (pid) => run.memory.name(pid, "kafka-consumer-perf (JVM)"),
    });
    say(
      `${tag} kafka-consumer-perf ${kafkaPerf.fetchMsgPerSec.toFixed(0).padStart(6)} events/s fetching ` +
        `(${kafkaPerf.msgPerSec.toFixed(0)}/s with the group join; ${kafkaPerf.wallSeconds.toFixed(1)} s with the JVM)` +
        (kafkaPerf.error ? `  ERROR ${kafkaPerf.error}` : ""),
    );

    const noopGroup = run.group(`noop-r${round}`);
    const noop = await drain(
      "no-op consumer",
      ["bench/noop-consumer.ts", noopGroup],
      run.env(),
      noopGroup,
      async () => true,
      async (s) => {
        const stopped = readFileSync(s.logFile, "utf8")
          .split("\n")
          .filter((l) => l.includes("no-op consumer stopped"))
          .pop();
        const { firstAt, lastAt } = JSON.parse(stopped ?? "{}") as { firstAt?: number; lastAt?: number };
        if (!firstAt || !lastAt)
          throw new Error(`no-op consumer: no first/last record times in ${s.logFile}`);
        return [firstAt, lastAt];
      },
    );
    say(`${tag} no-op consumer      ${line(noop)}`);

    // First and last transaction of a group's work, from its rows' timestamps (now(): the transaction's start).
    const window = async (sql: string, params: unknown[] = []): Promise<[number, number]> => {
      const { rows } = await db.query<{ first: number; last: number }>(
        `SELECT (extract(epoch FROM min(t)) * 1000)::float8 AS first, (extract(epoch FROM max(t)) * 1000)::float8 AS last
           FROM (${sql}) AS w (t)`,
        params,
      );
      return [Number(rows[0]?.first), Number(rows[0]?.last)];
    };
    const countOf = async (sql: string, params: unknown[] = []) =>
      Number((await db.query(`SELECT count(*)::int AS n FROM (${sql}) AS c`, params)).rows[0]?.n);

    await db.query("TRUNCATE processed_events");
    await db.query("VACUUM (ANALYZE) processed_events");
    const runnerPrefix = `${run.prefix}r${round}n.`;
    const runnerGroup = run.group("bench-noop", runnerPrefix);
    const applied = "SELECT processed_at FROM processed_events WHERE consumer_group = $1";
    const runnerNoop = await drain(
      "runner, no-op handler",
      ["bench/bench-processor.ts", "noop"],
      run.env({ GROUP_PREFIX: runnerPrefix }),
      runnerGroup,
      async () => (await countOf(applied, [runnerGroup])) >= opt.events,
      () => window(applied, [runnerGroup]),
    );
    say(`${tag} runner, no-op       ${line(runnerNoop)}`);

    await db.query("TRUNCATE wallets, processed_events, outbox CASCADE");
    await db.query("VACUUM (ANALYZE) wallets, processed_events, outbox");
    const groupPrefix = `${run.prefix}r${round}.`;
    const walletGroup = run.group("wallet-service", groupPrefix);
    const profile = opt.profile
      ? ["--cpu-prof", `--cpu-prof-dir=${join(run.resultsDir, `profile-${run.id}`, `wallet-r${round}`)}`]
      : [];
    const wallet = await drain(
      "wallet processor",
      ["bin/processor.ts", "wallet"],
      run.env({ GROUP_PREFIX: groupPrefix }),
      walletGroup,
      async () => (await countOf("SELECT 1 FROM wallets")) >= opt.events,
      () => window("SELECT created_at FROM wallets"),
      profile,
    );
    say(
      `${tag} wallet processor    ${line(wallet)}  wallet/no-op consumer ${((wallet.perSec / noop.perSec) * 100).toFixed(0)} %, ` +
        `wallet/no-op runner ${((wallet.perSec / runnerNoop.perSec) * 100).toFixed(0)} %`,
    );
    rounds.push({ round, kafkaPerf, noop, runnerNoop, wallet });
  }

  const med = {
    kafkaPerf: median(rounds.map((r) => (r.kafkaPerf.error ? Number.NaN : r.kafkaPerf.fetchMsgPerSec))),
    noop: median(rounds.map((r) => r.noop.perSec)),
    wallet: median(rounds.map((r) => r.wallet.perSec)),
    runnerNoop: median(rounds.map((r) => r.runnerNoop.perSec)),
    walletOverNoop: median(rounds.map((r) => r.wallet.perSec / r.noop.perSec)),
    walletOverRunnerNoop: median(rounds.map((r) => r.wallet.perSec / r.runnerNoop.perSec)),
    noopOverKafkaPerf: median(rounds.map((r) => r.noop.perSec / r.kafkaPerf.fetchMsgPerSec)),
    walletFromSpawn: median(rounds.map((r) => r.wallet.perSecFromSpawn)),
    noopFromSpawn: median(rounds.map((r) => r.noop.perSecFromSpawn)),
  };
  const v = check(
    med.walletOverNoop >= TARGET.walletOverNoop,
    `wallet processor at ${(med.walletOverNoop * 100).toFixed(0)} % of the no-op consumer (target ≥ ${TARGET.walletOverNoop * 100} %)`,
  );
  // The same target against the runner with a no-op handler: the consumer as processors use it (dedupe rows and
  // a transaction per chunk included), so the ratio is what the wallet handler itself costs.
  const vRunner = check(
    med.walletOverRunnerNoop >= TARGET.walletOverNoop,
    `wallet processor at ${(med.walletOverRunnerNoop * 100).toFixed(0)} % of the runner with a no-op handler (target ≥ ${TARGET.walletOverNoop * 100} %)`,
  );
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "n/a");
  const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)} %` : "n/a");
  console.log(
    `\n${opt.events} events, ${events.partitions} partitions; events/s from the first to the last record handled (kafka-consumer-perf: its fetch time)\n\n` +
      "| round | kafka-consumer-perf | no-op consumer | runner, no-op handler | wallet processor | wallet / no-op consumer | wallet / no-op runner | no-op / kafka-perf |\n" +
      "|---|---:|---:|---:|---:|---:|---:|---:|\n" +
      rounds
        .map(
          (r) =>
            `| ${r.round} | ${f(r.kafkaPerf.fetchMsgPerSec)} | ${f(r.noop.perSec)} | ${f(r.runnerNoop.perSec)} | ${f(r.wallet.perSec)} | ` +
            `${pct(r.wallet.perSec / r.noop.perSec)} | ${pct(r.wallet.perSec / r.runnerNoop.perSec)} | ${pct(r.noop.perSec / r.kafkaPerf.fetchMsgPerSec)} |`,
        )
        .join("\n") +
      `\n| **median** | **${f(med.kafkaPerf)}** | **${f(med.noop)}** | **${f(med.runnerNoop)}** | **${f(med.wallet)}** | **${pct(med.walletOverNoop)}** | **${pct(med.walletOverRunnerNoop)}** | **${pct(med.noopOverKafkaPerf)}** |\n`,
  );
  console.log(`${v.text}\n${vRunner.text}\n`);
  run.printMemory();
  const file = run.writeResults({
    options: opt,
    topic,
    partitions: events.partitions,
    produceSeconds: produceS,
    target: TARGET,
    verdict: v,
    verdictAgainstRunner: vRunner,
    medians: med,
    rounds,
  });
  say(`raw figures: ${file}`);
});
