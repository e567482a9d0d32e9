// `npm run bench:retry [-- --rate 100 --duration 30 --rounds 3 --fail 10 --backoff-ms 100]`
// Retry overhead: p99 latency (produced → applied) of the healthy events while `--fail` % of the events fail
// their first attempt transiently, against the same run shape with none failing, on the real ProcessorRunner
// (bench/bench-processor.ts flaky). See docs/benchmarks.md.
import pg from "pg";
import { assertAlive } from "./lib/env.js";
import { BenchEvents, type UserRegistered, waitDrained } from "./lib/events.js";
import { failsFirst } from "./lib/flaky-processor.js";
import { BenchRun, check } from "./lib/harness.js";
import { numericOptions } from "./lib/options.js";
import { type LatencySummary, median, summarize } from "./lib/stats.js";

const opt = numericOptions({ rate: 100, duration: 30, rounds: 3, fail: 10, "backoff-ms": 100 });
const TARGET = { ratio: 1.2 } as const;
const run = new BenchRun("retry", 240 + opt.rounds * 2 * (opt.duration + 120));
const { say } = run;

interface Phase {
  readonly failPercent: number;
  readonly sent: number;
  readonly achievedPerSec: number;
  /** Events whose first attempt succeeded (with 0 %: all of them). */
  readonly healthy: LatencySummary;
  /** Events that failed once and were applied on the retry. */
  readonly retried: LatencySummary;
}

await run.run(async () => {
  say(
    `${run.id} (code ${run.code}): ${opt.rounds} round(s) × {0 %, ${opt.fail} %} failing, ${opt.rate} events/s for ` +
      `${opt.duration} s each, retry backoff ${opt["backoff-ms"]} ms; budget ${run.budgetS} s`,
  );
  await run.setUp();
  const db = new pg.Pool({ connectionString: run.dbUrl, max: 2 });
  run.cleanup.add("closed the benchmark's pool", () => db.end());
  await db.query(
    "CREATE TABLE bench_applied (event_id uuid PRIMARY KEY, applied_at timestamptz NOT NULL, attempt int NOT NULL)",
  );
  const events = new BenchEvents(run.env());
  run.cleanup.add("closed the benchmark's Kafka clients", () => events.close());
  run.group("bench-flaky"); // for the clean-up

  const appliedOf = async (sent: readonly UserRegistered[]) =>
    Number(
      (
        await db.query("SELECT count(*)::int AS n FROM bench_applied WHERE event_id = ANY($1::uuid[])", [
          sent.map((e) => e.eventId),
        ])
      ).rows[0]?.n,
    );

  const phase = async (failPercent: number, tag: string): Promise<Phase> => {
    const s = run.service(
      "flaky processor",
      ["bench/bench-processor.ts", "flaky"],
      run.env({ FAIL_PERCENT: String(failPercent), RETRY_BACKOFF_MS: String(opt["backoff-ms"]) }),
    );
    try {
      run.start(s);
      // Warm-up (not measured): the member has joined and its retry chain works once these are applied.
      const allApplied = (sent: readonly UserRegistered[], timeoutMs: number) =>
        waitDrained({
          probe: async () => {
            const n = await appliedOf(sent);
            return { count: n, done: n === sent.length };
          },
          timeoutMs,
          check: () => assertAlive([s]),
        });
      await allApplied((await events.steadyUsers(`${tag}-warm`, 20, 1)).sent, 90_000);
      const steady = await events.steadyUsers(tag, opt.rate, opt.duration);
      await allApplied(steady.sent, 60_000);
      const { rows } = await db.query<{ event_id: string; at: number }>(
        "SELECT event_id, (extract(epoch FROM applied_at) * 1000)::float8 AS at FROM bench_applied WHERE event_id = ANY($1::uuid[])",
        [steady.sent.map((e) => e.eventId)],
      );
      const at = new Map(rows.map((r) => [r.event_id, r.at]));
      const healthy: number[] = [];
      const retried: number[] = [];
      for (const e of steady.sent) {
        const ms = (at.get(e.eventId) ?? Number.NaN) - e.occurredAt;
        (failsFirst(e.eventId, failPercent) ? retried : healthy).push(ms);
      }
      return {
        failPercent,
        sent: steady.sent.length,
        achievedPerSec: steady.sent.length / steady.seconds,
        healthy: summarize(healthy),
        retried: summarize(retried),
      };
    } finally {
      await s.stop();
    }
  };

  const rounds: { round: number; clean: Phase; failing: Phase; ratio: number }[] = [];
  for (let round = 1; round <= opt.rounds; round++) {
    const tag = `round ${round}/${opt.rounds}`;
    // Alternate the order, so a drift of the shared machine does not always favour the same side.
    const order = round % 2 ? [0, opt.fail] : [opt.fail, 0];
    const results = new Map<number, Phase>();
    for (const pct of order) {
      const p = await phase(pct, `${run.id}-r${round}-f${pct}`);
      results.set(pct, p);
      say(
        `${tag} ${String(pct).padStart(2)} % failing: ${p.sent} events at ${p.achievedPerSec.toFixed(0)}/s; healthy p50 ${p.healthy.p50} ms ` +
          `p99 ${p.healthy.p99} ms` +
          (p.retried.count
            ? `; retried (${p.retried.count}) p50 ${p.retried.p50} ms p99 ${p.retried.p99} ms`
            : ""),
      );
    }
    const clean = results.get(0) as Phase;
    const failing = results.get(opt.fail) as Phase;
    rounds.push({ round, clean, failing, ratio: failing.healthy.p99 / clean.healthy.p99 });
  }

  const med = {
    cleanP50: median(rounds.map((r) => r.clean.healthy.p50)),
    cleanP99: median(rounds.map((r) => r.clean.healthy.p99)),
    failingP50: median(rounds.map((r) => r.failing.healthy.p50)),
    failingP99: median(rounds.map((r) => r.failing.healthy.p99)),
    retriedP99: median(rounds.map((r) => r.failing.retried.p99)),
    ratio: median(rounds.map((r) => r.ratio)),
  };
  const v = check(
    med.ratio <= TARGET.ratio,
    `healthy events' p99 with ${opt.fail} % failing = ${med.ratio.toFixed(2)} × the p99 with none failing (target ≤ ${TARGET.ratio} ×)`,
  );
  console.log(
    `\nLatency produced → applied (ms), ${opt.rate} events/s for ${opt.duration} s per phase, retry backoff ${opt["backoff-ms"]} ms\n\n` +
      `| round | 0 %: p50 | 0 %: p99 | ${opt.fail} %: healthy p50 | ${opt.fail} %: healthy p99 | ${opt.fail} %: retried p99 | p99 ratio |\n` +
      "|---|---:|---:|---:|---:|---:|---:|\n" +
      rounds
        .map(
          (r) =>
            `| ${r.round} | ${r.clean.healthy.p50} | ${r.clean.healthy.p99} | ${r.failing.healthy.p50} | ` +
            `${r.failing.healthy.p99} | ${r.failing.retried.p99} | ${r.ratio.toFixed(2)} |`,
        )
        .join("\n") +
      `\n| **median** | ${med.cleanP50} | **${med.cleanP99}** | ${med.failingP50} | **${med.failingP99}** | ${med.retriedP99} | **${med.ratio.toFixed(2)}** |\n`,
  );
  console.log(`${v.text}\n`);
  run.printMemory();
  say(`raw figures: ${run.writeResults({ options: opt, target: TARGET, verdict: v, medians: med, rounds })}`);
});
