import { EVENT_TYPES, type EventType } from "../schemas/index.js";
import type { Config } from "./config.js";
import type { TopicSpec } from "./kafka/index.js";

/**
 * Every topic walletstream uses is declared here and created or checked at start-up through the admin
 * client (bin/system.ts → ensureTopics); the broker's auto-creation is off.
 *
 * A topic may carry several event types: all money events of a wallet share `wallet_transactions`, keyed by
 * wallet id, so one wallet's deposits, withdrawals and transfers stay in order on one partition (order only
 * holds within a partition of one topic).
 *
 * Event topics keep their history for ever (retention.ms=-1): replays rebuild projections from them, so
 * the history must be there. Dead-letter topics too: a dead letter stays until someone looks at it.
 */
export const TOPIC_OF: Readonly<Record<EventType, string>> = Object.freeze({
  user_registered: "user_registered",
  wallet_created: "wallet_created",
  funds_deposited: "wallet_transactions",
  funds_withdrawn: "wallet_transactions",
  transfer_sent: "wallet_transactions",
  transfer_received: "wallet_transactions",
});

export const EVENT_TOPIC_CONFIG: Readonly<Record<string, string>> = Object.freeze({
  "cleanup.policy": "delete",
  "retention.ms": "-1",
  "min.insync.replicas": "1",
});

export const DEAD_LETTER_TOPIC_CONFIG: Readonly<Record<string, string>> = Object.freeze({
  "cleanup.policy": "delete",
  "retention.ms": "-1",
});

/** Retry topics hold a record for minutes at most; a week of retention outlives any delay and any outage. */
export const RETRY_TOPIC_CONFIG: Readonly<Record<string, string>> = Object.freeze({
  "cleanup.policy": "delete",
  "retention.ms": String(7 * 24 * 3600 * 1000),
});

/** The event types a topic (unprefixed name) carries. */
export function typesOn(baseTopic: string): EventType[] {
  return EVENT_TYPES.filter((t) => TOPIC_OF[t] === baseTopic);
}

export interface TopicNames {
  /** The topic an event type is published to. */
  event(type: EventType): string;
  /** `<topic>.<group>.dlq`: one dead-letter topic per consumed topic and consumer group (both full names). */
  deadLetter(topic: string, group: string): string;
  /** `<topic>.<group>.retry.<level>`, level 1…attempts-1: one retry chain per consumed topic and group. */
  retry(topic: string, group: string, level: number): string;
  group(name: string): string;
  /**
   * `<group>.retry`: the consumer group that reads a group's retry topics (full group name in and out). A
   * consumer of its own, so a retry never holds up the fetches of the main topics; offsets of retry topics
   * are committed under this group, its dedupe rows stay under `group`.
   */
  retryGroup(group: string): string;
  /** The event types carried by a (prefixed) topic name; empty for a topic that is not ours. */
  typesOf(topic: string): EventType[];
}

/** Names carry an optional prefix (TOPIC_PREFIX / GROUP_PREFIX) so environments and test runs can share a cluster. */
export function topicNames(config: Config): TopicNames {
  const { topicPrefix, groupPrefix } = config.kafka;
  const event = (type: EventType) => `${topicPrefix}${TOPIC_OF[type]}`;
  return {
    event,
    deadLetter: (topic, group) => `${topic}.${group}.dlq`,
    retry: (topic, group, level) => `${topic}.${group}.retry.${level}`,
    group: (name) => `${groupPrefix}${name}`,
    retryGroup: (group) => `${group}.retry`,
    typesOf: (topic) => (topic.startsWith(topicPrefix) ? typesOn(topic.slice(topicPrefix.length)) : []),
  };
}

export function declaredTopics(
  config: Config,
  consumers: readonly { group: string; events: readonly EventType[]; retry: { attempts: number } }[],
): TopicSpec[] {
  const names = topicNames(config);
  const spec = (name: string, topicConfig: Readonly<Record<string, string>>): TopicSpec => ({
    name,
    partitions: config.kafka.partitions,
    replicationFactor: config.kafka.replicationFactor,
    config: topicConfig,
  });
  const eventTopics = new Set(EVENT_TYPES.map((t) => names.event(t)));
  const dlqTopics = new Set<string>();
  const retryTopics = new Set<string>();
  for (const c of consumers) {
    const group = names.group(c.group);
    for (const topic of new Set(c.events.map((t) => names.event(t)))) {
      dlqTopics.add(names.deadLetter(topic, group));
      for (let level = 1; level < c.retry.attempts; level++)
        retryTopics.add(names.retry(topic, group, level));
    }
  }
  return [
    ...[...eventTopics].map((n) => spec(n, EVENT_TOPIC_CONFIG)),
    ...[...retryTopics].map((n) => spec(n, RETRY_TOPIC_CONFIG)),
    ...[...dlqTopics].map((n) => spec(n, DEAD_LETTER_TOPIC_CONFIG)),
  ];
}
