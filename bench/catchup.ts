// `npm run bench:catchup [-- --rate 100 --downtime 60 --rounds 3 --warmup 10]`
// Catch-up: user_registered arrive at a steady live rate for the whole run; the wallet processor
// (bin/processor.ts wallet) is stopped for `--downtime` seconds and restarted; the drain rate of the backlog
// until the lag is back to ~0, against the live arrival rate. See docs/benchmarks.md.
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { assertAlive, type Service } from "./lib/env.js";
import { BenchEvents, waitDrained } from "./lib/events.js";
import { BenchRun, check } from "./lib/harness.js";
import { numericOptions } from "./lib/options.js";
import { median } from "./lib/stats.js";

const opt = numericOptions({ rate: 100, downtime: 60, rounds: 3, warmup: 10, "drain-timeout": 300 });
const TARGET = { ratio: 5 } as const;
const run = new BenchRun(
  "catchup",
  240 + opt.rounds * (opt.warmup + opt.downtime + opt["drain-timeout"] + 60),
);
const { say } = run;

interface Round {
  readonly round: number;
  /** Lag when the processor was started again. */
  readonly backlog: number;
  /** Events applied from the first after the restart until the lag was ~0, over that time. */
  readonly drainPerSec: number;
  readonly drainSeconds: number;
  /** Restart (spawn) → lag ~0: what an operator waits. */
  readonly recoverySeconds: number;
  readonly startupSeconds: number;
  readonly arrivalPerSec: number;
  readonly ratio: number;
}

await run.run(async () => {
  say(
    `${run.id} (code ${run.code}): ${opt.rate} user_registered/s live; ${opt.rounds} round(s) of ${opt.warmup} s ` +
      `running, ${opt.downtime} s stopped, restart and drain; budget ${run.budgetS} s`,
  );
  await run.setUp();
  const db = new pg.Pool({ connectionString: run.dbUrl, max: 2 });
  run.cleanup.add("closed the benchmark's pool", () => db.end());
  const events = new BenchEvents(run.env());
  run.cleanup.add("closed the benchmark's Kafka clients", () => events.close());
  const group = run.group("wallet-service");
  const topic = events.userTopic;
  // "~0": what arrives in half a second (the lag is read every 250 ms and commits trail by a batch).
  const nearZero = Math.max(5, Math.ceil(opt.rate / 2));

  // The live load, for the whole run.
  const stopLoad = new AbortController();
  const load = events.steadyUsers(run.id, opt.rate, 24 * 3600, stopLoad.signal);
  run.cleanup.add("stopped the live load", async () => {
    stopLoad.abort();
    await load.catch(() => undefined);
  });
  const wallets = async (since?: number) =>
    Number(
      (
        await db.query(
          "SELECT count(*)::int AS n FROM wallets WHERE created_at >= to_timestamp(coalesce($1::float8, 0) / 1000.0)",
          [since ?? null],
        )
      ).rows[0]?.n,
    );
  const lag = async () => (await events.lag(group, [topic])).lag;
  const caughtUp = (s: Service, timeoutS: number) =>
    waitDrained({
      probe: async () => {
        const l = await lag();
        return { count: -l, done: l <= nearZero };
      },
      timeoutMs: timeoutS * 1000,
      check: () => assertAlive([s]),
      progress: (n) => say(`  lag ${-n}`),
    });

  let processor = run.service("wallet processor", ["bin/processor.ts", "wallet"]);
  run.start(processor);
  await caughtUp(processor, 90);
  say("wallet processor running and caught up with the live load");

  const rounds: Round[] = [];
  for (let round = 1; round <= opt.rounds; round++) {
    const tag = `round ${round}/${opt.rounds}`;
    await sleep(opt.warmup * 1000);
    await processor.stop();
    const lagAtStop = await lag();
    say(`${tag} wallet processor stopped (lag ${lagAtStop}); down for ${opt.downtime} s`);
    const downAt = Date.now();
    await sleep(opt.downtime * 1000);
    const backlog = await lag();
    processor = run.service("wallet processor", ["bin/processor.ts", "wallet"]);
    const spawnAt = Date.now();
    const spawnPerf = performance.now();
    run.start(processor);
    const done = await caughtUp(processor, opt["drain-timeout"]);
    const doneAt = Date.now() - (performance.now() - done.doneAt);
    const { rows } = await db.query<{ first: number }>(
      "SELECT (extract(epoch FROM min(created_at)) * 1000)::float8 AS first FROM wallets WHERE created_at >= to_timestamp($1 / 1000.0)",
      [spawnAt],
    );
    const first = Number(rows[0]?.first);
    const applied = await wallets(first);
    const drainSeconds = (doneAt - first) / 1000;
    const arrivalPerSec = opt.rate; // the schedule's; the table uses the rate measured over the whole run
    const r: Round = {
      round,
      backlog,
      drainPerSec: applied / drainSeconds,
      drainSeconds,
      recoverySeconds: (done.doneAt - spawnPerf) / 1000,
      startupSeconds: (first - spawnAt) / 1000,
      arrivalPerSec,
      ratio: applied / drainSeconds / arrivalPerSec,
    };
    say(
      `${tag} backlog ${backlog} after ${((spawnAt - downAt) / 1000).toFixed(0)} s down; drained at ${r.drainPerSec.toFixed(0)} events/s ` +
        `in ${drainSeconds.toFixed(1)} s (start-up ${r.startupSeconds.toFixed(1)} s; recovered ${r.recoverySeconds.toFixed(1)} s after the restart) ` +
        `= ${r.ratio.toFixed(1)} × the arrival rate`,
    );
    rounds.push(r);
  }
  stopLoad.abort();
  const live = await load;
  const arrival = live.sent.length / live.seconds;

  const med = {
    arrivalPerSec: arrival,
    backlog: median(rounds.map((r) => r.backlog)),
    drainPerSec: median(rounds.map((r) => r.drainPerSec)),
    recoverySeconds: median(rounds.map((r) => r.recoverySeconds)),
    ratio: median(rounds.map((r) => r.drainPerSec)) / arrival,
  };
  const v = check(
    med.ratio >= TARGET.ratio,
    `drain ${med.drainPerSec.toFixed(0)} events/s = ${med.ratio.toFixed(1)} × the live arrival rate ${arrival.toFixed(0)}/s (target ≥ ${TARGET.ratio} ×)`,
  );
  console.log(
    `\n${opt.rate} events/s live (measured ${arrival.toFixed(1)}/s over ${live.seconds.toFixed(0)} s, worst producer lateness ${live.maxLateMs} ms); ${opt.downtime} s down per round\n\n` +
      "| round | backlog | drain events/s | drain s | start-up s | restart → lag ~0 s | drain / arrival |\n" +
      "|---|---:|---:|---:|---:|---:|---:|\n" +
      rounds
        .map(
          (r) =>
            `| ${r.round} | ${r.backlog} | ${r.drainPerSec.toFixed(0)} | ${r.drainSeconds.toFixed(1)} | ${r.startupSeconds.toFixed(1)} | ` +
            `${r.recoverySeconds.toFixed(1)} | ${(r.drainPerSec / arrival).toFixed(1)} × |`,
        )
        .join("\n") +
      `\n| **median** | ${med.backlog} | **${med.drainPerSec.toFixed(0)}** | | | ${med.recoverySeconds.toFixed(1)} | **${med.ratio.toFixed(1)} ×** |\n`,
  );
  console.log(`${v.text}\n`);
  run.printMemory();
  say(`raw figures: ${run.writeResults({ options: opt, target: TARGET, verdict: v, medians: med, rounds })}`);
});
