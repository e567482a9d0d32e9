import { type ChildProcess, spawn } from "node:child_process";
import type { TestEnv } from "./harness.js";

/** A processor as its own OS process, like `npm run start:processor -- <name>`, on the test env's stack. */
export function startProcessorProcess(
  env: TestEnv,
  name: string,
  extraEnv: Record<string, string> = {},
): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "bin/processor.ts", name], {
    env: {
      ...process.env,
      DATABASE_URL: env.config.db.url,
      TOPIC_PREFIX: env.config.kafka.topicPrefix,
      GROUP_PREFIX: env.config.kafka.groupPrefix,
      TOPIC_PARTITIONS: String(env.config.kafka.partitions),
      LOG_LEVEL: "warn",
      ...extraEnv,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
}

export const exited = (c: ChildProcess): Promise<unknown> =>
  new Promise((resolve) =>
    c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode) : c.once("exit", resolve),
  );
