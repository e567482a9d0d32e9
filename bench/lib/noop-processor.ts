import type { Processor } from "../../processors/types.js";

/**
 * A processor for bench/pipeline.ts only (not in processors/index.ts): handles user_registered by doing nothing,
 * per event and per chunk. What the runner costs by itself — delivery, decoding, the dedupe rows and the
 * transaction of each chunk, the offsets — so that the wallet processor's rate can be set against it.
 */
export function noopProcessor(retry: Processor["retry"]): Processor<"user_registered"> {
  return {
    name: "bench-noop",
    group: "bench-noop",
    events: ["user_registered"],
    retry,
    async handle() {},
    async handleAll() {},
  };
}
