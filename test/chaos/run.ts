// `npm run chaos [-- --seed N --duration S --rate R --short]`: the whole system as separate processes under a
// steady load and a seeded schedule of faults, then the invariants. Exit 0 only when every invariant holds.
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { type Check, moneyChecks } from "./checks.js";
import { type EventCounts, eventChecks } from "./checks-events.js";
import { type ChaosEnv, createChaosEnv } from "./env.js";
import { emailWindowBreaks, FaultInjector, planFaults, smtpOutageMaxMs } from "./faults.js";
import { LoadGenerator } from "./load.js";
import { mulberry32 } from "./prng.js";
import { type ChaosOptions, type ChaosResult, printResult, tally, writeResult } from "./report.js";
import { Fleet, SERVICES } from "./services.js";
import { type SettleResult, settle } from "./settle.js";
import { progress, Timeline } from "./timeline.js";

const USAGE = `usage: npm run chaos -- [--seed N] [--duration SECONDS] [--rate OPS_PER_SECOND] [--short] [--out FILE] [--keep]
  --seed N        reproduce a run's fault schedule and request mix (default: random, printed)
  --duration S    seconds of load and faults (default 180; 30 with --short)
  --rate R        client operations per second (default 15)
  --short         one fault of each kind, under a minute of load
  --out FILE      result file (default bench/results/chaos-<timestamp>.json)
  --keep          keep the run's database and topics (always kept when an invariant fails)`;

function options(): ChaosOptions & { out: string; runDir: string; keep: boolean } {
  const { values } = parseArgs({
    options: {
      seed: { type: "string" },
      duration: { type: "string" },
      rate: { type: "string" },
      short: { type: "boolean", default: false },
      out: { type: "string" },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  const num = (name: string, v: string | undefined, fallback: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isFinite(n) || n <= 0) {
      console.error(`--${name}: a positive number, not "${v}"\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const short = values.short === true;
  const stamp = new Date().toISOString().replaceAll(":", "-").replace(".", "-");
  return {
    seed: Math.floor(num("seed", values.seed, Math.floor(Math.random() * 2 ** 31) + 1)),
    durationS: num("duration", values.duration, short ? 30 : 180),
    rate: num("rate", values.rate, 15),
    short,
    out: values.out ?? `bench/results/chaos-${stamp}.json`,
    // Service logs next to the result; *.log is git-ignored.
    runDir: `bench/results/chaos-${stamp}`,
    keep: values.keep === true,
  };
}

async function main(): Promise<number> {
  const opts = options();
  const started = Date.now();
  const timeline = new Timeline();
  const prng = mulberry32(opts.seed);
  // Independent streams: the schedule does not shift when the load draws more or fewer numbers.
  const plan = planFaults(prng.fork(), { durationMs: opts.durationS * 1000, short: opts.short });
  const loadPrng = prng.fork();
  progress(`seed ${opts.seed}, ${opts.durationS} s at ${opts.rate} ops/s, ${plan.length} faults planned`);

  let env: ChaosEnv | undefined;
  let fleet: Fleet | undefined;
  let load: LoadGenerator | undefined;
  let injector: FaultInjector | undefined;
  let settled: SettleResult | null = null;
  let events: EventCounts | undefined;
  const checks: Check[] = [];
  let error: string | undefined;

  let cleaning: Promise<void> | undefined;
  /** Once, whatever ended the run: stop the clients, undo the faults, stop the services, drop the data. */
  const cleanup = (keepData: boolean) => {
    cleaning ??= (async () => {
      if (load) load.hardStop = true;
      await injector?.finish().catch(() => undefined);
      await injector
        ?.restore({ services: false })
        .catch((e: unknown) => progress(`restore failed: ${String(e)}`));
      await fleet?.stopAll();
      await env?.dispose({ keepData }).catch((e: unknown) => progress(`cleanup failed: ${String(e)}`));
      if (env && keepData) progress(`kept database ${env.id} and topics ${env.id}.* for a post-mortem`);
    })();
    return cleaning;
  };
  process.on("exit", () => fleet?.killAllNow());
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      progress(`${signal}: cleaning up`);
      void cleanup(true).finally(() => process.exit(130));
    });
  }
  // The run stops by itself: set-up, load, settle and checks have generous but finite budgets; this is the last.
  const watchdog = setTimeout(
    () => {
      progress("deadline passed: aborting");
      void cleanup(true).finally(() => process.exit(3));
    },
    (opts.durationS + 600) * 1000,
  );
  watchdog.unref();

  try {
    env = await createChaosEnv({ runDir: opts.runDir, smtpOutageMaxMs: smtpOutageMaxMs(opts.short) });
    const runEnv = env;
    progress(`stack services this checkout's runner owns: ${env.owned.join(", ") || "none"}`);
    fleet = new Fleet({ env: env.serviceEnv, envOf: env.envOf, logDir: opts.runDir, timeline });
    for (const s of SERVICES) fleet.start(s);
    progress(`services starting (logs in ${opts.runDir}); API on ${env.apiUrl}`);
    await waitHealthy(`${env.apiUrl}/healthz`, 120_000);
    load = new LoadGenerator(env.apiUrl, { runId: env.id, rate: opts.rate, prng: loadPrng, timeline });
    await load.warmUp(opts.short ? 8 : 16);
    progress(`${load.ready().length} wallets provisioned; load and faults start`);

    timeline.startClock();
    timeline.note("load started");
    injector = new FaultInjector(plan, { fleet, env, timeline });
    injector.start();
    load.start();
    await sleep(opts.durationS * 1000);
    timeline.note("load stopping: waiting for in-flight requests and running faults");
    await Promise.all([load.stop(), injector.finish()]);
    await injector.restore({ services: true });
    timeline.note("faults restored; settling");
    settled = await settle(env, opts.short ? 90_000 : 180_000);
    timeline.note(settled.settled ? "settled" : "NOT settled", `${(settled.waitedMs / 1000).toFixed(1)} s`);
    checks.push({
      name: "system settled (outbox empty, every group's lag 0, nothing parked)",
      ok: settled.settled,
      detail: Object.entries(settled.pending)
        .map(([k, n]) => `${k} ${n}`)
        .join(", "),
    });
    checks.push(...(await moneyChecks(runEnv.db, load.users, load.requests)));
    const crashes = emailWindowBreaks(injector.records, timeline.entries, timeline.origin);
    const e = await eventChecks(runEnv, started, crashes);
    events = e.counts;
    checks.push(...e.checks);
  } catch (err) {
    error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    progress(`run failed: ${error}`);
  }

  const verdict = !error && checks.length > 0 && checks.every((c) => c.ok) ? "pass" : "fail";
  await cleanup(verdict === "fail" || opts.keep);
  clearTimeout(watchdog);
  const result: ChaosResult = {
    verdict,
    seed: opts.seed,
    options: { seed: opts.seed, durationS: opts.durationS, rate: opts.rate, short: opts.short },
    runId: env?.id ?? "",
    startedAt: new Date(started).toISOString(),
    loadStartedAt: injector ? new Date(timeline.origin).toISOString() : null,
    finishedAt: new Date().toISOString(),
    elapsedS: (Date.now() - started) / 1000,
    logs: opts.runDir,
    counts: tally({
      users: load?.users.filter((u) => u.registered).length ?? 0,
      requests: load?.requests ?? [],
      clientAttempts: load?.client.attempts ?? 0,
      events,
      checks,
      faults: injector?.records ?? [],
      unplannedExits: fleet?.unplannedExits ?? 0,
      throttled: load?.throttled ?? 0,
    }),
    settle: settled,
    checks,
    faults: injector?.records ?? plan.map((p) => ({ ...p, status: "not reached" as const })),
    timeline: timeline.entries,
    ...(error ? { error } : {}),
    ...(verdict === "fail" && load ? { requests: load.requests } : {}),
  };
  printResult(result);
  writeResult(opts.out, result);
  progress(`result written to ${opts.out}`);
  return verdict === "pass" ? 0 : 1;
}

async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

process.exit(await main());
