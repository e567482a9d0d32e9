// `npm start`: the whole system in one process — local stack when nothing is configured, migrations,
// topics, schemas, then the API, the outbox relay and every processor.
import { processorCatalog } from "../processors/index.js";
import { runMain } from "./main.js";

await runMain(
  "walletstream",
  (config) => ({ api: true, relay: true, processors: [...processorCatalog(config).keys()] }),
  { localStack: true },
);
