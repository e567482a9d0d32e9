// `npm run start:processor -- <name> [<name> …]`: processors as members of their consumer groups.
// Start the same name in several processes to scale out; partitions spread across the members.
import { processorCatalog } from "../processors/index.js";
import { runMain } from "./main.js";

const names = process.argv.slice(2).filter((a) => !a.startsWith("-"));
await runMain(`processor-${names.join("+") || "none"}`, (config) => {
  const known = [...processorCatalog(config).keys()];
  if (names.length === 0) {
    console.error(`usage: npm run start:processor -- <name>  (known: ${known.join(", ")})`);
    process.exit(2);
  }
  return { processors: names };
});
