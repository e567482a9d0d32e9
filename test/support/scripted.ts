import { randomUUID } from "node:crypto";
import type { System } from "../../bin/system.js";
import { AppError } from "../../infra/errors.js";
import { createLogger } from "../../infra/log.js";
import { declaredTopics } from "../../infra/topics.js";
import { ProcessorRunner } from "../../processors/runner.js";
import type { Backoff, Processor } from "../../processors/types.js";
import type { UserRegistered } from "../../schemas/index.js";

/**
 * A processor whose handler fails on purpose, as scripted per event id, and records each attempt and each
 * application (in the `applied` table, inside the runner's transaction). The failure is injected at the
 * handler interface, the runtime around it is the real one.
 */
export interface Scripted {
  readonly processor: Processor<"user_registered">;
  readonly attempts: Map<string, number[]>;
  /** Remaining failures per event id; "always" fails until fixed. */
  readonly failures: Map<string, number | "always">;
  fix(): void;
}

export function scripted(opts: {
  group: string;
  attempts: number;
  backoff: Backoff;
  ordering?: "key" | "none";
}): Scripted {
  const attempts = new Map<string, number[]>();
  const failures = new Map<string, number | "always">();
  let fixed = false;
  return {
    attempts,
    failures,
    fix: () => {
      fixed = true;
    },
    processor: {
      name: opts.group,
      group: opts.group,
      events: ["user_registered"],
      ordering: opts.ordering ?? "none",
      retry: { attempts: opts.attempts, backoff: opts.backoff },
      async handle(event, ctx) {
        const id = event.payload.eventId;
        attempts.set(id, [...(attempts.get(id) ?? []), Date.now()]);
        const left = failures.get(id);
        if (!fixed && (left === "always" || (typeof left === "number" && left > 0))) {
          if (typeof left === "number") failures.set(id, left - 1);
          throw new AppError("internal", `scripted failure of ${id}`, { retryable: true });
        }
        await ctx.tx.query(
          "INSERT INTO applied (event_id, record_key, applied_at) VALUES ($1, $2, clock_timestamp())",
          [id, event.payload.userId],
        );
      },
    },
  };
}

export async function startScripted(
  system: System,
  s: Scripted,
): Promise<ProcessorRunner<"user_registered">> {
  await system.pool.query(
    `CREATE TABLE IF NOT EXISTS applied (seq bigserial PRIMARY KEY, event_id uuid NOT NULL, record_key text NOT NULL,
       applied_at timestamptz NOT NULL)`,
  );
  const admin = await system.bus.admin();
  await admin.ensureTopics(declaredTopics(system.config, [s.processor]));
  await admin.close();
  const runner = new ProcessorRunner(s.processor, {
    bus: system.bus,
    codec: system.codec,
    pool: system.pool,
    names: system.names,
    log: createLogger({ level: system.config.logLevel, service: "scripted" }),
  });
  await runner.start();
  return runner;
}

export function event(userId: string = randomUUID()): UserRegistered {
  return {
    eventId: randomUUID(),
    occurredAt: Date.now(),
    userId,
    email: `${userId}@example.com`,
    displayName: "x",
  };
}

export async function publishEvents(system: System, events: readonly UserRegistered[]): Promise<void> {
  const publisher = await system.bus.publisher();
  try {
    for (const e of events) {
      await publisher.publish([
        {
          topic: system.names.event("user_registered"),
          key: e.userId,
          value: await system.codec.encode("user_registered", e),
        },
      ]);
    }
  } finally {
    await publisher.close();
  }
}
