import { spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type LatencySummary, summarize } from "./stats.js";

export interface PgbenchRun {
  readonly mode: PgbenchMode;
  readonly clients: number;
  readonly threads: number;
  readonly seconds: number;
  readonly transactions: number;
  readonly failed: number;
  /** pgbench's own figure (without initial connection time). */
  readonly tps: number;
  /** From the per-transaction log (-l): every transaction's latency. */
  readonly latency: LatencySummary;
  readonly reportedAverageMs: number;
  readonly error?: string;
}

/** prepared: parse and plan once per connection; extended: unnamed statements, as node-postgres sends them. */
export type PgbenchMode = "prepared" | "extended";

export interface PgbenchOptions {
  readonly mode: PgbenchMode;
  readonly bin: string;
  readonly dbUrl: string;
  readonly script: string;
  readonly clients: number;
  readonly seconds: number;
  readonly vars: Record<string, string | number>;
  /** A directory for the per-transaction logs (files are removed after parsing). */
  readonly logDir: string;
}

const num = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);

/** pgbench -n -M <mode> -c C -j min(C,2) -T S -f script -l: throughput from its summary, latency from its log. */
export async function runPgbench(o: PgbenchOptions): Promise<PgbenchRun> {
  const threads = Math.min(o.clients, 2);
  const prefix = `pgb-${o.mode}-c${o.clients}-${Date.now()}`;
  const args = [
    "-n",
    "-M",
    o.mode,
    "-c",
    String(o.clients),
    "-j",
    String(threads),
    "-T",
    String(o.seconds),
    "-f",
    o.script,
    "-l",
    `--log-prefix=${join(o.logDir, prefix)}`,
    ...Object.entries(o.vars).flatMap(([k, v]) => ["-D", `${k}=${v}`]),
    o.dbUrl,
  ];
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(o.bin, args, { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.once("error", reject);
      child.once("close", (c) => resolve({ code: c, stdout, stderr }));
    },
  );
  const latencies: number[] = [];
  for (const f of readdirSync(o.logDir).filter((n) => n.startsWith(prefix))) {
    const path = join(o.logDir, f);
    for (const line of readFileSync(path, "utf8").split("\n")) {
      // client_id transaction_no time script_no time_epoch time_us; time in µs, "failed"/"skipped" otherwise
      const t = Number(line.split(" ")[2]);
      if (Number.isFinite(t) && line) latencies.push(t / 1000);
    }
    rmSync(path, { force: true });
  }
  const run: PgbenchRun = {
    mode: o.mode,
    clients: o.clients,
    threads,
    seconds: o.seconds,
    transactions: num(stdout, /number of transactions actually processed: (\d+)/),
    failed: num(stdout, /number of failed transactions: (\d+)/),
    tps: num(stdout, /tps = ([\d.]+)/),
    latency: summarize(latencies),
    reportedAverageMs: num(stdout, /latency average = ([\d.]+) ms/),
  };
  if (code !== 0)
    return { ...run, error: `pgbench exited ${code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}` };
  return run;
}
