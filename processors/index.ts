import type { Config } from "../infra/config.js";
import type { EventType } from "../schemas/index.js";
import type { Processor } from "./types.js";
import { walletProcessor } from "./wallet.js";

export { ProcessorRunner } from "./runner.js";
export type { Processor } from "./types.js";

/** Every processor walletstream runs, by name (`npm run start:processor -- <name>`). */
export function processorCatalog(config: Config): ReadonlyMap<string, Processor<EventType>> {
  const list: Processor<EventType>[] = [
    walletProcessor({
      defaultCurrency: config.wallet.defaultCurrency,
      maxAttempts: config.processor.maxAttempts,
    }) as Processor<EventType>,
  ];
  return new Map(list.map((p) => [p.name, p]));
}
