import { parseArgs } from "node:util";
import { loadConfig } from "../config.js";
import { createLogger } from "../log.js";
import { LocalStack, type ServiceName } from "./stack.js";

const USAGE = `usage: tsx infra/stack/cli.ts <up|down|status|fetch> [--only postgres|kafka|registry|smtp]

  up      start what is not already running (Kafka, schema registry, PostgreSQL, the development SMTP
          server) and wait until ready
  down    stop what 'up' started; services found running are never touched
  status  what runs where, who owns it, and its log file
  fetch   download Kafka and Apicurio from Maven Central (up does it when needed)`;

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { only: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel, service: "stack" });
  const stack = new LocalStack(config, log);
  switch (command) {
    case "up": {
      printStatus(await stack.up());
      return 0;
    }
    case "down": {
      const only = values.only as ServiceName | undefined;
      const stopped = await stack.down(only);
      console.log(
        stopped.length
          ? `stopped: ${stopped.join(", ")}`
          : "nothing to stop (only what 'up' started is stopped)",
      );
      return 0;
    }
    case "status": {
      const status = await stack.status();
      printStatus(status);
      return status.every((s) => s.ready) ? 0 : 1;
    }
    case "fetch":
      await stack.fetch();
      return 0;
    default:
      console.error(USAGE);
      return 2;
  }
}

function printStatus(status: Awaited<ReturnType<LocalStack["status"]>>): void {
  console.table(
    status.map((s) => ({
      service: s.name,
      address: s.address,
      ready: s.ready ? "yes" : "no",
      owner: s.owner,
      pid: s.pid ?? "",
      log: s.log ?? "",
    })),
  );
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
