import { type ChildProcess, spawn } from "node:child_process";

/**
 * `--replicas N`: runs N copies of this entry point as separate processes (members of the same consumer
 * groups), restarts a copy that dies unexpectedly, and forwards SIGTERM/SIGINT so every copy leaves its group
 * cleanly. Each copy is an ordinary process; this supervisor holds no Kafka or database connection.
 */
export async function superviseReplicas(
  script: string,
  args: readonly string[],
  replicas: number,
): Promise<void> {
  let stopping = false;
  const children = new Set<ChildProcess>();
  const start = (index: number) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
      stdio: "inherit",
      // Its own process group: Ctrl-C reaches the supervisor only, which forwards it once (a second signal
      // would make a replica exit without finishing its in-flight records).
      detached: true,
      env: { ...process.env, REPLICA_INDEX: String(index) },
    });
    children.add(child);
    child.on("exit", (code, signal) => {
      children.delete(child);
      if (stopping) {
        if (children.size === 0) process.exit(0);
        return;
      }
      console.error(
        JSON.stringify({ level: "warn", msg: "replica exited; restarting", index, code, signal }),
      );
      setTimeout(() => start(index), 1000);
    });
  };
  for (let i = 0; i < replicas; i++) start(i);
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const c of children) c.kill(signal);
    if (children.size === 0) process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
