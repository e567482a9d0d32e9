// `npm run start:relay`: the outbox relay alone. Several may run; one leads (advisory lock), the others wait.
import { runMain } from "./main.js";

await runMain("relay", () => ({ relay: true }));
