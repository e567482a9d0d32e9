// `npm run start:api`: the REST API alone (auth and wallet reads).
import { runMain } from "./main.js";

await runMain("api", () => ({ api: true }));
