import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Check } from "./checks.js";
import type { EventCounts } from "./checks-events.js";
import type { FaultRecord } from "./faults.js";
import type { MoneyRequest } from "./load.js";
import type { SettleResult } from "./settle.js";
import type { TimelineEntry } from "./timeline.js";

export interface ChaosOptions {
  readonly seed: number;
  readonly durationS: number;
  readonly rate: number;
  readonly short: boolean;
}

export interface ChaosResult {
  readonly verdict: "pass" | "fail";
  readonly seed: number;
  readonly options: ChaosOptions;
  readonly runId: string;
  readonly startedAt: string;
  /** Time 0 of the timeline and of the faults' `atMs`. */
  readonly loadStartedAt: string | null;
  readonly finishedAt: string;
  readonly elapsedS: number;
  readonly logs: string;
  readonly counts: Record<string, unknown>;
  readonly settle: SettleResult | null;
  readonly checks: readonly Check[];
  readonly faults: readonly FaultRecord[];
  readonly timeline: readonly TimelineEntry[];
  /** Set when the run itself broke (set-up failed, a deadline passed) before the checks could say anything. */
  readonly error?: string;
  /** On a failed run only: every money request as the clients saw it, to read against the database. */
  readonly requests?: readonly MoneyRequest[];
}

/** The numbers of the run, for the table and the result file. */
export function tally(o: {
  users: number;
  requests: readonly MoneyRequest[];
  clientAttempts: number;
  events: EventCounts | undefined;
  checks: readonly Check[];
  faults: readonly FaultRecord[];
  unplannedExits: number;
  throttled: number;
}): Record<string, unknown> {
  const answers: Record<string, number> = {};
  for (const r of o.requests) answers[r.answer ?? "no answer"] = (answers[r.answer ?? "no answer"] ?? 0) + 1;
  const faults: Record<string, number> = {};
  for (const f of o.faults.filter((x) => x.status === "done")) faults[f.kind] = (faults[f.kind] ?? 0) + 1;
  const produced = o.events?.produced ?? {};
  return {
    usersRegistered: o.users,
    moneyRequests: o.requests.length,
    accepted: o.requests.filter((r) => r.answer === "201").length,
    rejected: o.requests.filter((r) => r.answer !== undefined && r.answer !== "201").length,
    answers,
    replayedAnswers: o.requests.filter((r) => r.replayed).length,
    httpAttempts: o.clientAttempts,
    ticksSkippedAtConcurrencyCap: o.throttled,
    eventsProduced: Object.values(produced).reduce((a, b) => a + b, 0),
    eventsProducedByType: produced,
    eventsConsumedByGroup: o.events?.consumed ?? {},
    emailsSent: o.events?.emailsSent ?? 0,
    inboxMessages: o.events?.inboxMessages ?? 0,
    emailsResentAfterCrash: o.events?.emailsResentAfterCrash ?? 0,
    deadLetters: o.events?.deadLetters ?? 0,
    lost: o.checks.reduce((n, c) => n + (c.lost ?? 0), 0),
    duplicatedEffects: o.checks.reduce((n, c) => n + (c.duplicated ?? 0), 0),
    faultsInjected: faults,
    unplannedExits: o.unplannedExits,
  };
}

/** Markdown tables on stdout: they paste as they are into docs/reliability.md. */
export function printResult(r: ChaosResult): void {
  const out: string[] = [];
  out.push(
    `\n## Chaos run: seed ${r.seed}, ${r.options.durationS} s at ${r.options.rate} ops/s${r.options.short ? " (short)" : ""}\n`,
  );
  out.push("| fault | at (s) | lasted (s) | status |", "|---|---:|---:|---|");
  for (const f of r.faults) {
    const lasted =
      f.startedMs !== undefined && f.endedMs !== undefined ? (f.endedMs - f.startedMs) / 1000 : undefined;
    out.push(
      `| ${f.kind}${f.target ? ` ${f.target}` : ""} | ${((f.startedMs ?? f.atMs) / 1000).toFixed(1)} | ${lasted?.toFixed(1) ?? "–"} | ${f.status}${f.detail ? `: ${f.detail}` : ""} |`,
    );
  }
  out.push("", "| count | value |", "|---|---|");
  for (const [k, v] of Object.entries(r.counts)) {
    const shown =
      v && typeof v === "object"
        ? Object.entries(v as Record<string, number>)
            .map(([a, b]) => `${a}: ${b}`)
            .join(", ") || "–"
        : String(v);
    out.push(`| ${k} | ${shown} |`);
  }
  if (r.settle) {
    out.push(
      `| settled | ${r.settle.settled ? "yes" : "NO"} after ${(r.settle.waitedMs / 1000).toFixed(1)} s |`,
    );
  }
  out.push("", "| invariant | ok | detail |", "|---|---|---|");
  for (const c of r.checks)
    out.push(`| ${c.name} | ${c.ok ? "yes" : "**NO**"} | ${c.detail.replaceAll("|", "/")} |`);
  if (r.error) out.push("", `Run error: ${r.error}`);
  out.push("", `Verdict: **${r.verdict.toUpperCase()}** (${r.elapsedS.toFixed(0)} s; logs in ${r.logs})`, "");
  process.stdout.write(`${out.join("\n")}\n`);
}

export function writeResult(file: string, r: ChaosResult): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
}
