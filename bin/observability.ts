import { createServer, type Server } from "node:http";
import type { Pool } from "../infra/db/pool.js";
import type { Logger } from "../infra/log.js";
import type { Metrics } from "../infra/metrics.js";
import type { GroupOperations } from "../processors/operations.js";
import type { Processor } from "../processors/types.js";
import type { EventType } from "../schemas/index.js";

const OUTBOX_INTERVAL_MS = 5000;
const LAG_INTERVAL_MS = 15_000;

/**
 * Gauges that are read, not counted: the outbox backlog (processes running the relay) and the consumer lag of
 * the groups this process runs. Returns a function that stops the refresh.
 */
export function refreshGauges(opts: {
  metrics: Metrics;
  pool: Pool;
  log: Logger;
  outbox: boolean;
  processors: readonly Processor<EventType>[];
  groups: GroupOperations;
  groupName: (group: string) => string;
}): () => void {
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, fn: () => Promise<void>) => {
    const run = () => fn().catch((err: unknown) => opts.log.debug({ err }, "gauge refresh failed"));
    void run();
    timers.push(setInterval(run, ms).unref());
  };
  if (opts.outbox) {
    every(OUTBOX_INTERVAL_MS, async () => {
      const { rows } = await opts.pool.query<{ n: number; age: number | null }>(
        `SELECT count(*)::int AS n, extract(epoch FROM now() - min(created_at))::float8 AS age
           FROM outbox WHERE published_at IS NULL AND failed_at IS NULL`,
      );
      opts.metrics.outboxBacklog.set(rows[0]?.n ?? 0);
      opts.metrics.outboxOldestAge.set(rows[0]?.age ?? 0);
    });
  }
  if (opts.processors.length) {
    every(LAG_INTERVAL_MS, async () => {
      for (const p of opts.processors) {
        for (const r of await opts.groups.lag(p, { includeRetry: true, timestamps: false })) {
          opts.metrics.consumerLag.set(
            { group: opts.groupName(p.group), topic: r.topic, partition: String(r.partition) },
            r.lag,
          );
        }
      }
    });
  }
  return () => {
    for (const t of timers) clearInterval(t);
  };
}

/** `GET /metrics` (and `/healthz`) for processes without the API: processors and relays. */
export async function serveMetrics(metrics: Metrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/metrics") {
      metrics.registry.metrics().then(
        (body) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(body);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    res.writeHead(req.url === "/healthz" ? 200 : 404, { "content-type": "application/json" });
    res.end(req.url === "/healthz" ? '{"status":"ok"}' : '{"status":"not found"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return server;
}
