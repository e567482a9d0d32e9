import type { Pool } from "../infra/db/pool.js";
import { withTransaction } from "../infra/db/pool.js";
import type { IncomingRecord } from "../infra/kafka/index.js";

/**
 * Per-key order across the retry chain (`ordering: "key"`), kept in PostgreSQL so it survives restarts and
 * rebalances. Every method locks the key's hold row first, so parking and releasing never interleave.
 */
export interface ParkedRecord {
  readonly id: string;
  readonly record: IncomingRecord;
}

export class KeyOrder {
  constructor(
    private readonly pool: Pool,
    private readonly group: string,
  ) {}

  /** Parks `record` when its key is held; true when parked (its offset may then be committed). */
  parkIfHeld(topic: string, key: string, record: IncomingRecord): Promise<boolean> {
    return withTransaction(this.pool, async (tx) => {
      const held = await tx.query(
        "SELECT 1 FROM key_holds WHERE consumer_group = $1 AND topic = $2 AND record_key = $3 FOR UPDATE",
        [this.group, topic, key],
      );
      if (held.rowCount === 0) return false;
      await tx.query(
        `INSERT INTO parked_records (consumer_group, topic, record_key, kafka_partition, kafka_offset, kafka_timestamp, value, headers)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
        [
          this.group,
          topic,
          key,
          record.partition,
          record.offset,
          record.timestamp,
          record.value,
          record.headers,
        ],
      );
      return true;
    });
  }

  /** Marks the key held by the record at `heldBy` ("partition:offset"); refreshes the lease when already held. */
  async hold(topic: string, key: string, heldBy: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO key_holds (consumer_group, topic, record_key, held_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (consumer_group, topic, record_key) DO UPDATE SET held_by = excluded.held_by, held_since = now()`,
      [this.group, topic, key, heldBy],
    );
  }

  /**
   * The next parked record of a key whose head (`heldBy`) is done, handing the hold to it; or, when none is
   * left, releases the hold. Undefined when the hold is gone or owned by another record.
   */
  next(topic: string, key: string, heldBy: string): Promise<ParkedRecord | undefined> {
    return withTransaction(this.pool, async (tx) => {
      const hold = await tx.query<{ held_by: string }>(
        "SELECT held_by FROM key_holds WHERE consumer_group = $1 AND topic = $2 AND record_key = $3 FOR UPDATE",
        [this.group, topic, key],
      );
      if (hold.rows[0]?.held_by !== heldBy) return undefined;
      const { rows } = await tx.query<{
        id: string;
        kafka_partition: number;
        kafka_offset: string;
        kafka_timestamp: string;
        value: Buffer | null;
        headers: Record<string, string>;
      }>(
        `SELECT id, kafka_partition, kafka_offset, kafka_timestamp, value, headers FROM parked_records
          WHERE consumer_group = $1 AND topic = $2 AND record_key = $3 ORDER BY id LIMIT 1`,
        [this.group, topic, key],
      );
      const row = rows[0];
      if (!row) {
        await tx.query("DELETE FROM key_holds WHERE consumer_group = $1 AND topic = $2 AND record_key = $3", [
          this.group,
          topic,
          key,
        ]);
        return undefined;
      }
      await tx.query(
        "UPDATE key_holds SET held_by = $4, held_since = now() WHERE consumer_group = $1 AND topic = $2 AND record_key = $3",
        [this.group, topic, key, `${row.kafka_partition}:${row.kafka_offset}`],
      );
      return {
        id: row.id,
        record: {
          topic,
          partition: row.kafka_partition,
          offset: row.kafka_offset,
          key: Buffer.from(key),
          value: row.value,
          headers: row.headers,
          timestamp: Number(row.kafka_timestamp),
        },
      };
    });
  }

  async unpark(id: string): Promise<void> {
    await this.pool.query("DELETE FROM parked_records WHERE id = $1", [id]);
  }

  /** Holds whose head has shown no progress for `leaseMs`: their release was lost (a crash); drain them. */
  async stale(leaseMs: number): Promise<{ topic: string; key: string; heldBy: string }[]> {
    const { rows } = await this.pool.query<{ topic: string; record_key: string; held_by: string }>(
      `SELECT topic, record_key, held_by FROM key_holds
        WHERE consumer_group = $1 AND held_since < now() - make_interval(secs => $2) LIMIT 100`,
      [this.group, leaseMs / 1000],
    );
    return rows.map((r) => ({ topic: r.topic, key: r.record_key, heldBy: r.held_by }));
  }
}
