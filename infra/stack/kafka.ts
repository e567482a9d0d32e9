import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Config } from "../config.js";
import type { StackLayout } from "./layout.js";
import { spawnDaemon } from "./proc.js";

const run = promisify(execFile);

export function kafkaListener(config: Config): { host: string; port: number } {
  const [host = "127.0.0.1", port = "9092"] = (config.kafka.brokers[0] ?? "127.0.0.1:9092").split(":");
  return { host, port: Number(port) };
}

/**
 * Broker settings of the single-node KRaft stack. docker-compose.yml sets the same keys (as KAFKA_* variables);
 * test/unit/compose.test.ts fails when the two drift.
 */
export function kafkaServerProperties(opts: {
  host: string;
  port: number;
  controllerPort: number;
  dataDir: string;
  partitions: number;
}): Record<string, string> {
  return {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.quorum.voters": `1@${opts.host}:${opts.controllerPort}`,
    listeners: `PLAINTEXT://${opts.host}:${opts.port},CONTROLLER://${opts.host}:${opts.controllerPort}`,
    "advertised.listeners": `PLAINTEXT://${opts.host}:${opts.port}`,
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "log.dirs": opts.dataDir,
    ...SHARED_BROKER_SETTINGS,
    "num.partitions": String(opts.partitions),
  };
}

/** The settings both runners (local and docker-compose) share, single-node values included. */
export const SHARED_BROKER_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  // Topics are declared in code (infra/topics.ts) and created at start-up; never by a stray produce.
  "auto.create.topics.enable": "false",
  "offsets.topic.replication.factor": "1",
  "offsets.topic.num.partitions": "10",
  "transaction.state.log.replication.factor": "1",
  "transaction.state.log.min.isr": "1",
  "transaction.state.log.num.partitions": "4",
  "share.coordinator.state.topic.replication.factor": "1",
  "share.coordinator.state.topic.min.isr": "1",
  "default.replication.factor": "1",
  "min.insync.replicas": "1",
  "group.initial.rebalance.delay.ms": "0",
});

/** Writes server.properties, formats the storage on first start, and starts the broker in the background. */
export async function startKafka(config: Config, layout: StackLayout, java: string): Promise<number> {
  const { host, port } = kafkaListener(config);
  const props = kafkaServerProperties({
    host,
    port,
    controllerPort: config.stack.kafkaControllerPort,
    dataDir: layout.kafkaData,
    partitions: config.kafka.partitions,
  });
  mkdirSync(layout.kafkaData, { recursive: true });
  writeFileSync(
    layout.kafkaConfig,
    `# written by infra/stack/kafka.ts on every start; edit that file, not this one\n${Object.entries(props)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n")}\n`,
  );
  const classpath = `${layout.kafkaLibs}/*`;
  const clusterIdFile = join(layout.root, "kafka", "cluster.id");
  if (!existsSync(clusterIdFile)) writeFileSync(clusterIdFile, randomBytes(16).toString("base64url"));
  const clusterId = readFileSync(clusterIdFile, "utf8").trim();
  // --ignore-formatted makes this a no-op once the log dir holds a formatted cluster.
  await run(java, [
    "-cp",
    classpath,
    "kafka.tools.StorageTool",
    "format",
    "-t",
    clusterId,
    "-c",
    layout.kafkaConfig,
    "--ignore-formatted",
  ]);
  const logsDir = join(layout.root, "logs");
  return spawnDaemon(layout.kafka, java, [
    ...config.stack.kafkaHeap.split(/\s+/).filter(Boolean),
    "-XX:+UseG1GC",
    "-Djava.awt.headless=true",
    `-Dkafka.logs.dir=${logsDir}`,
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
    "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn",
    "-cp",
    classpath,
    "kafka.Kafka",
    layout.kafkaConfig,
  ]);
}
