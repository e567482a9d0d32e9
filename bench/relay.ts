// `npm run bench:relay [-- --rate 200 --duration 20 --backlog 100000 --rounds 3]`
// The outbox relay (bin/relay.ts, its own process): latency from the committing transaction to the broker's
// acknowledgement at a steady insert rate, and rows/s draining a pre-filled outbox. See docs/benchmarks.md.
import { setTimeout as sleep } from "node:timers/promises";
import { loadConfig } from "../infra/config.js";
import { createPool, withTransaction } from "../infra/db/pool.js";
import { enqueue } from "../producers/outbox.js";
import { measureCpu } from "./lib/cpu.js";
import { freePort, type Service, until, waitHealthy } from "./lib/env.js";
import { openLoop, userRegistered } from "./lib/events.js";
import { BenchRun, check } from "./lib/harness.js";
import { numericOptions } from "./lib/options.js";
import { type LatencySummary, median, summarize } from "./lib/stats.js";

const opt = numericOptions({ rate: 200, duration: 20, backlog: 100_000, rounds: 3 });
const TARGET = { p99Ms: 50 } as const;
const run = new BenchRun(
  "relay",
  240 +
    opt.rounds * (opt.duration + 120 + Math.ceil(opt.backlog / 200) + Math.ceil(opt.backlog / 20_000) * 10),
);
const { say } = run;

interface Histogram {
  readonly le: number[];
  readonly counts: number[];
}

interface Round {
  readonly round: number;
  readonly latency: {
    readonly rows: number;
    readonly achievedPerSec: number;
    /** Client's COMMIT returned → the relay's published_at (set right after the broker's ack). */
    readonly commitToPublishedMs: LatencySummary;
    /** The relay's own histogram (row insert → broker ack), bucket upper bounds, this phase only. */
    readonly metricP50Ms: number;
    readonly metricP99Ms: number;
    readonly metricCount: number;
    readonly cpu: Record<string, number>;
  };
  readonly saturation: {
    readonly rows: number;
    readonly perSec: number;
    readonly seconds: number;
    readonly batches: number;
    readonly cpu: Record<string, number>;
  };
}

/** walletstream_relay_commit_to_ack_seconds from the relay's /metrics: cumulative bucket counts. */
async function scrape(url: string): Promise<Histogram> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
  const le: number[] = [];
  const counts: number[] = [];
  for (const m of text.matchAll(
    /^walletstream_relay_commit_to_ack_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\S+)$/gm,
  )) {
    le.push(m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]));
    counts.push(Number(m[2]));
  }
  return { le, counts };
}

/** The upper bound (ms) of the bucket holding quantile q of the observations between two scrapes. */
function bucketQuantile(before: Histogram, after: Histogram, q: number): { ms: number; count: number } {
  const diff = after.counts.map((c, i) => c - (before.counts[i] ?? 0));
  const total = diff[diff.length - 1] ?? 0;
  const i = diff.findIndex((c) => c >= q * total);
  return { ms: total === 0 || i < 0 ? Number.NaN : (after.le[i] ?? Number.NaN) * 1000, count: total };
}

await run.run(async () => {
  say(
    `${run.id} (code ${run.code}): ${opt.rounds} round(s) of ${opt.rate} outbox rows/s for ${opt.duration} s, ` +
      `then a backlog of ${opt.backlog}; budget ${run.budgetS} s`,
  );
  await run.setUp();
  const metricsPort = await freePort();
  const env = run.env({ METRICS_PORT: String(metricsPort) });
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const relay: Service = run.service("relay", ["bin/relay.ts"], env);
  const relayPids: number[] = []; // for the CPU split: the sampler classifies a process when it first sees it
  const startRelay = () =>
    run.startAll([relay], (alive) => {
      relayPids.push(relay.pid ?? -1);
      return waitHealthy(`http://127.0.0.1:${metricsPort}/healthz`, alive, 90_000);
    });
  await startRelay();
  // The writers: committed transactions through the project's pool and enqueue(), as the API writes.
  const pool = createPool(loadConfig(env), { max: 8, applicationName: "bench-writer" });
  run.cleanup.add("closed the benchmark's pool", () => pool.end());
  const pending = async () =>
    Number(
      (
        await pool.query(
          "SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL AND failed_at IS NULL",
        )
      ).rows[0]?.n,
    );
  const roles = { api: [], workers: relayPids, database: run.id };

  const latencyPhase = async (round: number): Promise<Round["latency"]> => {
    await pool.query("VACUUM (ANALYZE) outbox");
    const committedAt = new Map<string, number>();
    const before = await scrape(metricsUrl);
    const stopCpu = measureCpu(roles);
    const writes: Promise<void>[] = [];
    let failed = 0;
    const schedule = await openLoop(opt.rate, opt.duration, (first, count) => {
      for (let i = first; i < first + count; i++) {
        const payload = userRegistered(`${run.id}-r${round}`, i);
        writes.push(
          withTransaction(pool, (tx) =>
            enqueue(tx, [{ type: "user_registered", key: payload.userId, payload }]),
          ).then(
            () => void committedAt.set(payload.eventId, Date.now()),
            () => void failed++,
          ),
        );
      }
    });
    await Promise.all(writes);
    await until("outbox published", async () => (await pending()) === 0, 60_000);
    const cpu = stopCpu();
    await sleep(200);
    const after = await scrape(metricsUrl);
    const { rows } = await pool.query<{ event_id: string; at: number }>(
      "SELECT event_id, (extract(epoch FROM published_at) * 1000)::float8 AS at FROM outbox WHERE event_id = ANY($1::uuid[])",
      [[...committedAt.keys()]],
    );
    const ms = rows.map((r) => r.at - (committedAt.get(r.event_id) ?? Number.NaN));
    if (failed) say(`  ${failed} inserts failed`);
    const p50 = bucketQuantile(before, after, 0.5);
    return {
      rows: committedAt.size,
      achievedPerSec: committedAt.size / schedule.seconds,
      commitToPublishedMs: summarize(ms),
      metricP50Ms: p50.ms,
      metricP99Ms: bucketQuantile(before, after, 0.99).ms,
      metricCount: p50.count,
      cpu,
    };
  };

  const saturationPhase = async (round: number): Promise<Round["saturation"]> => {
    await relay.stop();
    // A backlog as the API would leave it while the relay is down: valid user_registered rows in id order.
    await pool.query(
      `INSERT INTO outbox (event_id, event_type, message_key, payload, headers)
       SELECT e, 'user_registered', u::text,
              jsonb_build_object('eventId', e, 'occurredAt', (extract(epoch FROM now()) * 1000)::bigint,
                                 'userId', u, 'email', $1 || '-' || i || '@bench.example.com', 'displayName', 'Bench ' || i),
              '{}'::jsonb
         FROM (SELECT i, gen_random_uuid() AS e, gen_random_uuid() AS u FROM generate_series(1, $2) AS i) AS g`,
      [`${run.id}-sat${round}`, opt.backlog],
    );
    await pool.query("VACUUM (ANALYZE) outbox");
    const n = await pending();
    const stopCpu = measureCpu(roles);
    const since = Date.now();
    await startRelay();
    await until(
      "backlog published",
      async () => (await pending()) === 0,
      Math.ceil(opt.backlog / 200) * 1000 + 60_000,
    );
    const cpu = stopCpu();
    const { rows } = await pool.query<{ first: number; last: number; batches: number; head: number }>(
      `WITH b AS (SELECT published_at, count(*) AS n FROM outbox WHERE published_at >= to_timestamp($1 / 1000.0)
                   GROUP BY published_at)
       SELECT (extract(epoch FROM min(published_at)) * 1000)::float8 AS first,
              (extract(epoch FROM max(published_at)) * 1000)::float8 AS last, count(*)::int AS batches,
              (SELECT n FROM b ORDER BY published_at LIMIT 1)::int AS head FROM b`,
      [since],
    );
    const r = rows[0] ?? { first: 0, last: 0, batches: 0, head: 0 };
    // Rows published after the first batch, over the time from the first batch's mark to the last's.
    const seconds = (r.last - r.first) / 1000;
    return { rows: n, perSec: (n - r.head) / seconds, seconds, batches: r.batches, cpu };
  };

  const rounds: Round[] = [];
  for (let round = 1; round <= opt.rounds; round++) {
    const tag = `round ${round}/${opt.rounds}`;
    const latency = await latencyPhase(round);
    const l = latency.commitToPublishedMs;
    say(
      `${tag} latency: ${latency.rows} rows at ${latency.achievedPerSec.toFixed(0)}/s; commit → published p50 ${l.p50} ms ` +
        `p99 ${l.p99} ms (max ${l.max}); relay histogram p50 ≤ ${latency.metricP50Ms} ms p99 ≤ ${latency.metricP99Ms} ms`,
    );
    const saturation = await saturationPhase(round);
    say(
      `${tag} saturation: ${saturation.rows} rows in ${saturation.seconds.toFixed(1)} s = ${saturation.perSec.toFixed(0)} rows/s ` +
        `(${saturation.batches} batches; relay ${saturation.cpu["relay+processor"] ?? "?"} cores, postgres ${saturation.cpu.postgres ?? "?"})`,
    );
    rounds.push({ round, latency, saturation });
  }

  const m = (f: (r: Round) => number) => median(rounds.map(f));
  const med = {
    p50: m((r) => r.latency.commitToPublishedMs.p50),
    p99: m((r) => r.latency.commitToPublishedMs.p99),
    metricP50: m((r) => r.latency.metricP50Ms),
    metricP99: m((r) => r.latency.metricP99Ms),
    rowsPerSec: m((r) => r.saturation.perSec),
  };
  const v = check(
    med.p99 <= TARGET.p99Ms,
    `commit → broker ack p99 ${med.p99} ms (target ≤ ${TARGET.p99Ms} ms)`,
  );
  console.log(
    `\nMedians over ${opt.rounds} round(s): ${opt.rate} rows/s for ${opt.duration} s; backlog ${opt.backlog} rows\n\n` +
      "| round | commit → published p50 ms | p99 ms | relay histogram p50 / p99 (bucket bound) ms | saturation rows/s |\n" +
      "|---|---:|---:|---:|---:|\n" +
      rounds
        .map(
          (r) =>
            `| ${r.round} | ${r.latency.commitToPublishedMs.p50} | ${r.latency.commitToPublishedMs.p99} | ` +
            `≤ ${r.latency.metricP50Ms} / ≤ ${r.latency.metricP99Ms} | ${r.saturation.perSec.toFixed(0)} |`,
        )
        .join("\n") +
      `\n| **median** | **${med.p50}** | **${med.p99}** | ≤ ${med.metricP50} / ≤ ${med.metricP99} | **${med.rowsPerSec.toFixed(0)}** |\n`,
  );
  console.log(`${v.text}\n`);
  run.printMemory();
  say(`raw figures: ${run.writeResults({ options: opt, target: TARGET, verdict: v, medians: med, rounds })}`);
});
