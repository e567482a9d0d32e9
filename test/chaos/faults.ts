import { setTimeout as sleep } from "node:timers/promises";
import type { ChaosEnv } from "./env.js";
import type { Prng } from "./prng.js";
import { type Fleet, PROCESSORS, SERVICES, type ServiceName } from "./services.js";
import type { Timeline, TimelineEntry } from "./timeline.js";

export type FaultKind = "kill" | "kafka_restart" | "db_block" | "smtp_down" | "scale_out";

export interface PlannedFault {
  readonly kind: FaultKind;
  /** The service killed (kill only). */
  readonly target?: ServiceName;
  /** When, from the start of the load. */
  readonly atMs: number;
  /** How long the fault lasts: the killed process stays down, the database cut, SMTP down, the extra members up. */
  readonly durationMs: number;
}

export interface FaultRecord extends PlannedFault {
  status: "planned" | "running" | "done" | "skipped" | "failed" | "not reached";
  startedMs?: number;
  endedMs?: number;
  detail?: string;
}

/** The longest SMTP outage a schedule may hold; the email retry policy is sized from it (env.ts). */
export function smtpOutageMaxMs(short: boolean): number {
  return short ? 8000 : 12_000;
}

/**
 * The seeded schedule, as fractions of the load's duration D. Every kind of fault once (kills: every service
 * once with --short, two or three times otherwise), each over by ~0.9 D so the load still runs after it. The
 * SMTP outage ends before the Kafka restart can begin: both are stack operations, serialised, and an outage
 * stretched by a slow broker restart could outlast the email retries.
 */
export function planFaults(prng: Prng, o: { durationMs: number; short: boolean }): PlannedFault[] {
  const D = o.durationMs;
  const at = (from: number, to: number) => Math.round(prng.between(from, to) * D);
  const plan: PlannedFault[] = [
    { kind: "smtp_down", atMs: at(0.04, 0.08), durationMs: prng.int(6000, smtpOutageMaxMs(o.short)) },
    { kind: "kafka_restart", atMs: at(0.32, 0.45), durationMs: 0 },
    { kind: "scale_out", atMs: at(0.45, 0.55), durationMs: Math.round(D * 0.25) },
    { kind: "db_block", atMs: at(0.55, 0.65), durationMs: prng.int(3000, o.short ? 4000 : 6000) },
  ];
  for (const target of SERVICES) {
    const kills = o.short ? 1 : prng.int(2, 3);
    const slot = 0.8 / kills;
    for (let k = 0; k < kills; k++) {
      const from = 0.05 + k * slot;
      plan.push({
        kind: "kill",
        target,
        atMs: at(from, from + slot - 0.03),
        durationMs: prng.int(500, 3000),
      });
    }
  }
  return plan.sort((a, b) => a.atMs - b.atMs);
}

/**
 * Runs the schedule against the live run: SIGKILL and restart, Kafka restart, PostgreSQL cut at the proxy,
 * SMTP down and up, a second member of every processor group for a while. `restore()` undoes whatever is
 * still in effect, whatever happened; stack services are only touched when this checkout's runner owns them.
 */
export class FaultInjector {
  readonly records: FaultRecord[];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<void>>();
  private stackQueue: Promise<unknown> = Promise.resolve();

  constructor(
    plan: readonly PlannedFault[],
    private readonly deps: { fleet: Fleet; env: ChaosEnv; timeline: Timeline },
  ) {
    this.records = plan.map((p) => ({ ...p, status: "planned" }));
  }

  start(): void {
    for (const r of this.records) {
      this.timers.push(setTimeout(() => this.launch(r), r.atMs));
    }
  }

  /** Calls off what has not started yet and waits for the running faults to end (each restores itself). */
  async finish(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const r of this.records) if (r.status === "planned") r.status = "not reached";
    while (this.running.size > 0) await Promise.race(this.running);
  }

  /**
   * Whatever is still in effect is undone: proxy open, stack services up, extra members stopped, and (unless
   * the run is being torn down) every primary running.
   */
  async restore(opts: { services: boolean }): Promise<void> {
    const { env, fleet } = this.deps;
    env.proxy.unblock();
    if (env.owned.includes("kafka") || env.owned.includes("smtp")) await this.stack(() => env.stack.up());
    await Promise.all(PROCESSORS.map((p) => fleet.stop(p, 2)));
    if (opts.services) for (const s of SERVICES) fleet.start(s);
  }

  private launch(r: FaultRecord): void {
    const run = this.execute(r).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private async execute(r: FaultRecord): Promise<void> {
    const { timeline, env } = this.deps;
    const label = r.target ? `${r.kind} ${r.target}` : r.kind;
    const needs = r.kind === "kafka_restart" ? "kafka" : r.kind === "smtp_down" ? "smtp" : undefined;
    if (needs && !env.owned.includes(needs)) {
      r.status = "skipped";
      r.detail = `${needs} was not started by this checkout's stack runner`;
      timeline.note(`${label} skipped`, r.detail);
      return;
    }
    r.status = "running";
    r.startedMs = timeline.elapsedMs;
    timeline.note(`${label}: start`, r.durationMs ? `for ${(r.durationMs / 1000).toFixed(1)} s` : undefined);
    try {
      await this.inject(r);
      r.status = "done";
    } catch (err) {
      r.status = "failed";
      r.detail = err instanceof Error ? err.message : String(err);
    }
    r.endedMs = timeline.elapsedMs;
    const took = `${((r.endedMs - r.startedMs) / 1000).toFixed(1)} s`;
    timeline.note(`${label}: ${r.status === "done" ? "restored" : "FAILED"}`, r.detail ?? took);
  }

  private async inject(r: FaultRecord): Promise<void> {
    const { fleet, env } = this.deps;
    switch (r.kind) {
      case "kill": {
        const target = r.target as ServiceName;
        await fleet.kill(target);
        await sleep(r.durationMs);
        fleet.start(target);
        return;
      }
      case "kafka_restart":
        await this.stack(async () => {
          try {
            await env.stack.restartKafka();
          } catch (err) {
            // Another runner on the shared stack may have started a broker while ours was down (ours then fails
            // to bind): the fault happened all the same; what matters is that a broker comes back.
            r.detail = `restart: ${err instanceof Error ? err.message : String(err)}; waited for a broker instead`;
            await env.stack.up();
          }
        });
        return;
      case "db_block":
        env.proxy.block();
        await sleep(r.durationMs);
        env.proxy.unblock();
        return;
      case "smtp_down":
        await this.stack(() => env.stack.down("smtp"));
        try {
          await sleep(r.durationMs);
        } finally {
          await this.stack(() => env.stack.up());
        }
        return;
      case "scale_out":
        for (const p of PROCESSORS) fleet.start(p, 2);
        await sleep(r.durationMs);
        // A clean leave (SIGTERM): the survivors take the partitions over in the next rebalance.
        await Promise.all(PROCESSORS.map((p) => fleet.stop(p, 2)));
        return;
    }
  }

  /** Stack operations one at a time: `up()` during a broker restart would start a second broker. */
  private stack<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.stackQueue.then(fn, fn);
    this.stackQueue = run.catch(() => undefined);
    return run;
  }
}

/**
 * When an email's send → commit window could be broken (ms since the epoch): the email service killed (or
 * exiting on its own), the database cut, the SMTP server stopped. See the inbox check (checks-events.ts).
 */
export function emailWindowBreaks(
  records: readonly FaultRecord[],
  entries: readonly TimelineEntry[],
  origin: number,
): number[] {
  const breaking = (r: FaultRecord) =>
    (r.kind === "kill" && r.target === "email") || r.kind === "db_block" || r.kind === "smtp_down";
  return [
    ...records
      .filter((r) => breaking(r) && r.startedMs !== undefined)
      .map((r) => origin + (r.startedMs ?? 0)),
    ...entries.filter((e) => e.event.startsWith("unplanned exit of email")).map((e) => origin + e.atMs),
  ];
}
