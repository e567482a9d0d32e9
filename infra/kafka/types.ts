/**
 * The small interface the rest of walletstream sees of Kafka. Only infra/kafka/ imports a Kafka client
 * (a lint rule enforces it), so swapping kafkajs for another client touches this folder alone.
 */

export type Headers = Readonly<Record<string, string>>;

export interface OutgoingRecord {
  readonly topic: string;
  /** Records with the same key go to the same partition, so their order is kept. */
  readonly key: string | Buffer | null;
  readonly value: Buffer;
  readonly headers?: Headers;
}

export interface IncomingRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  /** Broker timestamp, milliseconds since the epoch. */
  readonly timestamp: number;
}

/** What a record handler may do besides returning: keep the group membership alive during long work. */
export interface DeliveryControls {
  heartbeat(): Promise<void>;
  /** True once stop() was called: long waits should give up and let the record be redelivered. */
  readonly stopping: boolean;
}

/**
 * Acknowledgement semantics: `publish` resolves only after every record is acknowledged by all in-sync
 * replicas (acks=all, idempotent producer); on rejection nothing may be assumed about which records landed.
 */
export interface Publisher {
  publish(records: readonly OutgoingRecord[]): Promise<void>;
  close(): Promise<void>;
}

export interface SubscriptionOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a group with no committed offset starts. Default: earliest, so no event is missed. */
  readonly fromBeginning?: boolean;
  /** Partitions processed in parallel by this member; order within a partition is always kept. */
  readonly concurrency?: number;
  /** `runBatches`: most records per handler call; a fetched batch is cut into chunks of this size. Default 100. */
  readonly batchMax?: number;
}

/** Consecutive records of one partition, in offset order: what a batch handler gets in one call. */
export interface RecordBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly IncomingRecord[];
}

export interface BatchControls extends DeliveryControls {
  /**
   * Marks the batch's records up to and including `offset` done: their offsets may be committed from now on.
   * Call it only once their effects are durable.
   */
  resolve(offset: string): void;
}

/**
 * What a handler answers for a record: nothing (done: its offset may be committed), or "hold until": the
 * record is not due yet — its partition pauses without committing it and the same record comes again at
 * `holdUntil` (ms since epoch). Other partitions keep flowing meanwhile.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: handlers that never hold simply return nothing.
export type Disposition = void | { readonly holdUntil: number };

/**
 * At-least-once delivery: a record's offset is committed only after its handler resolved (and did not hold
 * it). A handler that rejects makes the record be delivered again (after a rejoin), so handlers must not
 * reject for bad input.
 */
export interface Subscription {
  run(handler: (record: IncomingRecord, controls: DeliveryControls) => Promise<Disposition>): Promise<void>;
  /**
   * The same, a chunk of a partition's records at a time (at most `batchMax`). Only what the handler resolves
   * is committed — after it returns, at the end of the fetched batch or within a second. A record left
   * unresolved stops the partition's batch there: returning `{ holdUntil }` pauses the partition and the first
   * unresolved record comes again then; returning plainly redelivers it at once. A handler that rejects keeps
   * what it resolved; the rest is delivered again (after a rejoin).
   */
  runBatches(handler: (batch: RecordBatch, controls: BatchControls) => Promise<Disposition>): Promise<void>;
  /** Stops fetching, lets the in-flight records finish, commits their offsets and leaves the group. */
  stop(): Promise<void>;
  /** Resolves when the consumer crashed beyond recovery (the process should exit and be restarted). */
  readonly crashed: Promise<Error>;
}

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly config: Readonly<Record<string, string>>;
}

export interface TopicOffsets {
  readonly partition: number;
  readonly low: string;
  readonly high: string;
}

export interface EnsureTopicsResult {
  readonly created: readonly string[];
  readonly reconfigured: readonly string[];
  /** Existing topics with fewer partitions than declared: adding partitions moves keys, so it is a manual step. */
  readonly underPartitioned: readonly { name: string; has: number; declared: number }[];
}

export interface BusAdmin {
  ensureTopics(specs: readonly TopicSpec[]): Promise<EnsureTopicsResult>;
  listTopics(): Promise<string[]>;
  deleteTopics(names: readonly string[]): Promise<void>;
  topicOffsets(topic: string): Promise<TopicOffsets[]>;
  groupOffsets(groupId: string, topic: string): Promise<{ partition: number; offset: string }[]>;
  deleteGroups(groupIds: readonly string[]): Promise<void>;
  /** A group's state and how many members it has now (replays refuse while it has any). */
  describeGroup(groupId: string): Promise<{ state: string; members: number }>;
  /** Moves a group's committed offsets, all in one commit (the group must have no members). */
  setGroupOffsets(
    groupId: string,
    offsets: readonly { topic: string; partition: number; offset: string }[],
  ): Promise<void>;
  /** Per partition, the earliest offset whose timestamp is at or after `timestamp` (the end offset when none). */
  offsetsAtTimestamp(topic: string, timestamp: number): Promise<{ partition: number; offset: string }[]>;
  /** Deletes records before `offset` in a partition (moves its low watermark). */
  deleteRecordsBefore(topic: string, partition: number, offset: string): Promise<void>;
  close(): Promise<void>;
}

export interface EventBus {
  publisher(): Promise<Publisher>;
  subscription(opts: SubscriptionOptions): Subscription;
  admin(): Promise<BusAdmin>;
  /**
   * Reads a topic from its low to its high watermark as they are now (no consumer group is left behind):
   * for tools (dead letters, checks), not for processing.
   */
  readAll(topic: string, opts?: { timeoutMs?: number }): Promise<IncomingRecord[]>;
  /** The broker timestamps of the records at the given offsets (missing when the offset holds no record). */
  timestampsAt(
    topic: string,
    at: readonly { partition: number; offset: string }[],
  ): Promise<Map<number, number>>;
  /** Resolves true when a broker answers a metadata request within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<boolean>;
}
