// `npm run start:processor -- <name> [<name> …] [--replicas N]`: processors as members of their consumer
// groups. Start the same name in several processes (or use --replicas) to scale out; partitions spread
// across the members.
import { parseArgs } from "node:util";
import { processorCatalog } from "../processors/index.js";
import { runMain } from "./main.js";
import { superviseReplicas } from "./replicas.js";

const { positionals: names, values } = parseArgs({
  allowPositionals: true,
  options: { replicas: { type: "string" } },
});
const replicas = Number(values.replicas ?? 1);
if (!Number.isInteger(replicas) || replicas < 1) {
  console.error(`--replicas must be a positive integer, not ${values.replicas}`);
  process.exit(2);
}

if (replicas > 1) {
  await superviseReplicas(new URL(import.meta.url).pathname, names, replicas);
} else {
  await runMain(`processor-${names.join("+") || "none"}`, (config) => {
    const known = [...processorCatalog(config).keys()];
    if (names.length === 0) {
      console.error(`usage: npm run start:processor -- <name> [--replicas N]  (known: ${known.join(", ")})`);
      process.exit(2);
    }
    return { processors: names };
  });
}
