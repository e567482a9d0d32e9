import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ApiRun } from "./api-load.js";
import type { PgbenchRun } from "./pgbench.js";
import { type LatencySummary, median, medianRecord } from "./stats.js";

/** The target: at TARGET.clients clients, API tx/s ≥ TARGET.ratio × pgbench tx/s and API p99 ≤ TARGET.p99Ms. */
export const TARGET = { clients: 16, ratio: 0.6, p99Ms: 30 } as const;

export interface Round {
  readonly round: number;
  readonly api: ApiRun;
  readonly pgbench: PgbenchRun;
  /** With --extended: the same script with unnamed statements (-M extended), the protocol node-postgres uses. */
  readonly pgbenchExtended?: PgbenchRun | undefined;
  readonly cpu: {
    readonly api: Record<string, number>;
    readonly pgbench: Record<string, number>;
    readonly pgbenchExtended?: Record<string, number>;
  };
  /** 1-minute load average after the API phase and after the pgbench phase (the machine is shared). */
  readonly load: readonly [number, number];
  /** Outbox rows not yet published by the relay right after the API phase (does the relay keep up?). */
  readonly outboxPendingAfterApi: number;
}

export interface Row {
  readonly clients: number;
  readonly rounds: number;
  readonly apiTps: number;
  readonly apiP50: number;
  readonly apiP99: number;
  readonly apiNon2xx: number;
  readonly apiErrors: number;
  readonly pgTps: number;
  readonly pgP50: number;
  readonly pgP99: number;
  readonly pgFailed: number;
  readonly pgExtTps: number;
  readonly pgExtP99: number;
  readonly ratio: number;
  readonly cpuApiPhase: Record<string, number>;
  readonly cpuPgbenchPhase: Record<string, number>;
}

/** Medians over the rounds of each client count. */
export function summarizeRounds(clients: readonly number[], rounds: readonly Round[]): Row[] {
  return clients.map((c) => {
    const rs = rounds.filter((r) => r.api.clients === c);
    const apiTps = median(rs.map((r) => r.api.txPerSec));
    const pgTps = median(rs.map((r) => (r.pgbench.error ? Number.NaN : r.pgbench.tps)));
    return {
      clients: c,
      rounds: rs.length,
      apiTps,
      apiP50: median(rs.map((r) => r.api.latency.p50)),
      apiP99: median(rs.map((r) => r.api.latency.p99)),
      apiNon2xx: rs.reduce((n, r) => n + r.api.non2xx, 0),
      apiErrors: rs.reduce((n, r) => n + r.api.errors, 0),
      pgTps,
      pgP50: median(rs.map((r) => r.pgbench.latency.p50)),
      pgP99: median(rs.map((r) => r.pgbench.latency.p99)),
      pgFailed: rs.reduce((n, r) => n + (Number.isFinite(r.pgbench.failed) ? r.pgbench.failed : 0), 0),
      pgExtTps: median(
        rs.map((r) => (r.pgbenchExtended?.error ? Number.NaN : (r.pgbenchExtended?.tps ?? Number.NaN))),
      ),
      pgExtP99: median(rs.map((r) => r.pgbenchExtended?.latency.p99 ?? Number.NaN)),
      ratio: apiTps / pgTps,
      cpuApiPhase: medianRecord(rs.map((r) => r.cpu.api)),
      cpuPgbenchPhase: medianRecord(rs.map((r) => r.cpu.pgbench)),
    };
  });
}

export interface Verdict {
  readonly pass: boolean;
  readonly text: string;
}

export function verdict(rows: readonly Row[]): Verdict {
  const row = rows.find((r) => r.clients === TARGET.clients);
  if (!row) return { pass: false, text: `MISS: no run at ${TARGET.clients} clients` };
  const ratioOk = row.ratio >= TARGET.ratio;
  const p99Ok = row.apiP99 <= TARGET.p99Ms;
  const pass = ratioOk && p99Ok && row.apiNon2xx === 0;
  const parts = [
    `API/pgbench ${(row.ratio * 100).toFixed(0)} % (target ≥ ${TARGET.ratio * 100} %: ${ratioOk ? "ok" : "missed"})`,
    `API p99 ${row.apiP99.toFixed(1)} ms (target ≤ ${TARGET.p99Ms} ms: ${p99Ok ? "ok" : "missed"})`,
    `non-2xx ${row.apiNon2xx}`,
  ];
  return { pass, text: `${pass ? "PASS" : "MISS"} at ${TARGET.clients} clients: ${parts.join("; ")}` };
}

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");

/** The results table (Markdown, so it can go into docs/benchmarks.md as is) and the per-phase CPU split. */
export function table(rows: readonly Row[]): string {
  const ext = rows.some((r) => Number.isFinite(r.pgExtTps));
  const head =
    "| clients | API tx/s | API p50 ms | API p99 ms | API non-2xx | pgbench tx/s | pgbench p50 / p99 ms | API/pgbench |";
  const lines = [
    ext ? `${head} pgbench -M extended tx/s (p99 ms) |` : head,
    `|---:|---:|---:|---:|---:|---:|---:|---:|${ext ? "---:|" : ""}`,
    ...rows.map(
      (r) =>
        `| ${r.clients} | ${f(r.apiTps, 0)} | ${f(r.apiP50, 2)} | ${f(r.apiP99, 2)} | ${r.apiNon2xx + r.apiErrors} | ` +
        `${f(r.pgTps, 0)} | ${f(r.pgP50, 2)} / ${f(r.pgP99, 2)} | ${f(r.ratio * 100, 0)} % |` +
        (ext ? ` ${f(r.pgExtTps, 0)} (${f(r.pgExtP99, 2)}) |` : ""),
    ),
  ];
  return lines.join("\n");
}

const CPU_GROUPS = [
  "api",
  "postgres",
  "autovacuum",
  "postgres-other",
  "relay+processor",
  "kafka",
  "registry",
  "bench",
  "pgbench",
  "other",
];

export function cpuTable(rows: readonly Row[]): string {
  const cell = (rec: Record<string, number>, g: string) => f(rec[g] ?? 0, 2);
  return [
    `| clients | phase | machine | ${CPU_GROUPS.join(" | ")} |`,
    `|---:|---|---:|${CPU_GROUPS.map(() => "---:").join("|")}|`,
    ...rows.flatMap((r) => [
      `| ${r.clients} | API | ${cell(r.cpuApiPhase, "machine")} | ${CPU_GROUPS.map((g) => cell(r.cpuApiPhase, g)).join(" | ")} |`,
      `| ${r.clients} | pgbench | ${cell(r.cpuPgbenchPhase, "machine")} | ${CPU_GROUPS.map((g) => cell(r.cpuPgbenchPhase, g)).join(" | ")} |`,
    ]),
  ].join("\n");
}

/** The raw figures as bench/results/<name>-<timestamp>.json (git-ignored); returns the path. */
export function writeResultsFile(dir: string, name: string, data: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** One progress line's figures: throughput, p50, p99 and the CPU split. */
export function phaseLine(tps: number, l: LatencySummary, cpu: Record<string, number>): string {
  const busy = Object.entries(cpu)
    .filter(([, v]) => v >= 0.01)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(", ");
  return `${tps.toFixed(0).padStart(5)} tx/s  p50 ${l.p50.toFixed(2)} ms  p99 ${l.p99.toFixed(2)} ms  cores: ${busy}`;
}
