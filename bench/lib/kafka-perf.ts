import { spawn } from "node:child_process";
import { join } from "node:path";
import { loadConfig } from "../../infra/config.js";
import { findJava } from "../../infra/stack/java.js";
import { stackLayout } from "../../infra/stack/layout.js";

export interface KafkaPerfRun {
  readonly messages: number;
  /** Messages over the tool's whole run (group join included): its nMsg.sec. */
  readonly msgPerSec: number;
  /** Messages over its fetch time only (join and rebalance excluded): its fetch.nMsg.sec. */
  readonly fetchMsgPerSec: number;
  readonly rebalanceMs: number;
  readonly fetchMs: number;
  /** Spawn to exit, JVM start included. */
  readonly wallSeconds: number;
  readonly raw: string;
  readonly error?: string;
}

/**
 * Kafka's own consumer benchmark, org.apache.kafka.tools.ConsumerPerformance, from the Kafka distribution the
 * stack runs (its libs/), with the Java the stack uses: `--messages n` from the earliest offset in group
 * `group`. The broker-side limit of reading the topic (no decode, no work).
 */
export async function runKafkaConsumerPerf(o: {
  topic: string;
  group: string;
  messages: number;
  timeoutMs: number;
  onSpawn?: (pid: number | undefined) => void;
}): Promise<KafkaPerfRun> {
  const config = loadConfig();
  const java = findJava(17, config.stack.javaHome);
  const args = [
    "-Xmx256m",
    "-cp",
    join(stackLayout(config).kafkaLibs, "*"),
    "org.apache.kafka.tools.ConsumerPerformance",
    "--bootstrap-server",
    config.kafka.brokers.join(","),
    "--topic",
    o.topic,
    "--group",
    o.group,
    "--messages",
    String(o.messages),
    "--timeout",
    "30000",
  ];
  const t0 = performance.now();
  const child = spawn(java, args, { stdio: ["ignore", "pipe", "pipe"] });
  o.onSpawn?.(child.pid);
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  const wallSeconds = (performance.now() - t0) / 1000;
  // stdout holds log lines too; the figures are the line after the header, in the header's order:
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
  // fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec.
  const lines = out.split("\n");
  const header = lines.find((l) => /^start\.time,/.test(l.trim())) ?? "";
  const values = lines.find((l) => /^\d{4}-\d\d-\d\d [\d:]+, \d{4}-/.test(l.trim())) ?? "";
  const head = header.split(",").map((s) => s.trim());
  const vals = values.split(",").map((s) => s.trim());
  const field = (name: string) => Number(vals[head.indexOf(name)] ?? Number.NaN);
  const run = {
    messages: field("data.consumed.in.nMsg"),
    msgPerSec: field("nMsg.sec"),
    fetchMsgPerSec: field("fetch.nMsg.sec"),
    rebalanceMs: field("rebalance.time.ms"),
    fetchMs: field("fetch.time.ms"),
    wallSeconds,
    raw: `${header}\n${values}`,
  };
  if (code !== 0 || !values || !(run.messages >= o.messages))
    return { ...run, error: `exit ${code}: ${out.trim().split("\n").slice(-5).join(" | ")}` };
  return run;
}
