import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { ADVISORY_LOCKS } from "../infra/db/locks.js";
import { AppError } from "../infra/errors.js";
import type { OutgoingRecord, Publisher } from "../infra/kafka/index.js";
import type { Logger } from "../infra/log.js";
import type { Metrics } from "../infra/metrics.js";
import type { EventCodec } from "../infra/registry.js";
import type { TopicNames } from "../infra/topics.js";
import { type EventPayload, isEventType } from "../schemas/index.js";

// The holder of this lock is the only relay publishing.
const RELAY_LEADER_LOCK = ADVISORY_LOCKS.relayLeader;

export interface RelayOptions {
  readonly databaseUrl: string;
  readonly batchSize: number;
  /** Fallback poll when no NOTIFY arrives (a lost notification never delays a row longer than this). */
  readonly pollIntervalMs: number;
  /**
   * After a NOTIFY, wait this long before reading, so the commits of the next few milliseconds go out in the
   * same read, produce and update (0: read at once). Costs at most this much latency; saves a wake-up per commit.
   */
  readonly coalesceMs?: number;
  /** Published rows older than this are deleted. */
  readonly retentionHours: number;
}

interface OutboxRow {
  id: string;
  event_id: string;
  event_type: string;
  message_key: string;
  payload: Record<string, unknown>;
  headers: Record<string, string>;
  created_at: Date;
}

/**
 * Publishes outbox rows to Kafka in id order (commit order per key), keyed by aggregate id, with acks=all on
 * an idempotent producer; a row is marked published only after the broker acknowledged it. While Kafka is
 * down rows stay pending and go out, in order, when it returns.
 *
 * Several relays may run: one holds a PostgreSQL advisory lock and publishes, the others wait to take over
 * (a single publisher is what keeps per-key order; SKIP LOCKED batches would interleave keys).
 * A crash between the broker ack and the UPDATE republishes those rows: delivery is at-least-once and
 * consumers deduplicate on eventId.
 */
export class OutboxRelay {
  private client: pg.Client | undefined;
  private running = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private lastPurge = 0;
  /** A NOTIFY arrived since the last read: do not sleep before the next one. */
  private notified = false;
  isLeader = false;
  published = 0;

  constructor(
    private readonly opts: RelayOptions,
    private readonly publisher: Publisher,
    private readonly codec: EventCodec,
    private readonly names: TopicNames,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.disconnect();
  }

  /** Publishes everything pending now; resolves when the outbox is empty (tests and tools use it). */
  async drainOnce(): Promise<number> {
    await this.ensureLeader();
    if (!this.isLeader) return 0;
    let total = 0;
    for (;;) {
      const n = await this.publishBatch();
      total += n;
      if (n < this.opts.batchSize) return total;
    }
  }

  private async run(): Promise<void> {
    let backoff = 250;
    while (this.running) {
      try {
        await this.ensureLeader();
        if (this.isLeader) {
          if (this.notified && this.opts.coalesceMs) await sleep(this.opts.coalesceMs);
          this.notified = false;
          while (this.running && (await this.publishBatch()) === this.opts.batchSize) {
            // A full batch: more may be waiting.
          }
          await this.purge();
        }
        backoff = 250;
        await this.waitForWork(
          this.isLeader ? this.opts.pollIntervalMs : Math.max(this.opts.pollIntervalMs, 2000),
        );
      } catch (err) {
        this.log.warn({ err, retryInMs: backoff }, "outbox relay: publish failed, rows stay pending");
        if (this.client && isConnectionLost(err)) await this.disconnect();
        await this.waitForWork(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private async ensureLeader(): Promise<void> {
    if (this.client && this.isLeader) return;
    if (!this.client) {
      const client = new pg.Client({
        connectionString: this.opts.databaseUrl,
        connectionTimeoutMillis: 5000,
      });
      client.on("error", (err) => {
        this.log.warn({ err }, "outbox relay: database connection lost");
        this.isLeader = false;
        this.client = undefined;
        client.end().catch(() => undefined);
        this.wake?.();
      });
      client.on("notification", () => {
        this.notified = true;
        this.wake?.();
      });
      await client.connect();
      await client.query("LISTEN outbox");
      this.client = client;
    }
    const { rows } = await this.client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [
      RELAY_LEADER_LOCK,
    ]);
    const wasLeader = this.isLeader;
    this.isLeader = rows[0]?.ok === true;
    if (this.isLeader && !wasLeader) this.log.info("outbox relay: leader, publishing");
  }

  private async publishBatch(): Promise<number> {
    const client = this.client;
    if (!client) return 0;
    const { rows } = await client.query<OutboxRow>(
      `SELECT id, event_id, event_type, message_key, payload, headers, created_at FROM outbox
        WHERE published_at IS NULL AND failed_at IS NULL ORDER BY id LIMIT $1`,
      [this.opts.batchSize],
    );
    if (rows.length === 0) return 0;
    const records: OutgoingRecord[] = [];
    const sendable: string[] = [];
    for (const row of rows) {
      try {
        records.push(await this.toRecord(row));
        sendable.push(row.id);
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== "event_invalid") throw err;
        // A payload that can never match its schema is a bug: park the row, loudly, rather than block the outbox.
        this.log.error(
          { err, outboxId: row.id, eventType: row.event_type },
          "outbox row can never be published",
        );
        await client.query("UPDATE outbox SET failed_at = now(), last_error = $2 WHERE id = $1", [
          row.id,
          err.message.slice(0, 2000),
        ]);
      }
    }
    const timer = this.metrics?.relayPublishDuration.startTimer();
    await this.publisher.publish(records);
    timer?.();
    const acked = Date.now();
    for (const row of rows)
      this.metrics?.relayCommitToAck.observe(Math.max(0, acked - row.created_at.getTime()) / 1000);
    await client.query("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [sendable]);
    this.published += sendable.length;
    this.metrics?.relayPublished.inc(sendable.length);
    return rows.length;
  }

  private async toRecord(row: OutboxRow): Promise<OutgoingRecord> {
    if (!isEventType(row.event_type)) {
      throw new AppError("event_invalid", `unknown event type ${row.event_type}`);
    }
    const value = await this.codec.encode(row.event_type, row.payload as unknown as EventPayload);
    return {
      topic: this.names.event(row.event_type),
      key: row.message_key,
      value,
      headers: { ...row.headers, "event-type": row.event_type, "event-id": row.event_id },
    };
  }

  private async purge(): Promise<void> {
    if (!this.client || Date.now() - this.lastPurge < 60_000) return;
    this.lastPurge = Date.now();
    await this.client.query(
      "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - make_interval(hours => $1)",
      [this.opts.retentionHours],
    );
  }

  private async waitForWork(ms: number): Promise<void> {
    if (!this.running || this.notified) return;
    const ac = new AbortController();
    this.wake = () => ac.abort();
    await sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined);
    this.wake = undefined;
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.isLeader = false;
    // Ending the session releases the advisory lock, so another relay takes over.
    await client?.end().catch(() => undefined);
  }
}

function isConnectionLost(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code ?? "";
  return (
    /^(08|57P0)/.test(code) || /Connection terminated|not queryable/i.test(String((err as Error)?.message))
  );
}
