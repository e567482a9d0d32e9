import { EVENT_TYPES, type EventType } from "../schemas/index.js";
import type { Config } from "./config.js";
import type { TopicSpec } from "./kafka/index.js";

/**
 * Every topic walletstream uses is declared here and created or checked at start-up through the admin
 * client (infra/bootstrap.ts); the broker's auto-creation is off.
 *
 * Event topics keep their history for ever (retention.ms=-1): replays rebuild projections from them, so
 * the history must be there. Dead-letter topics too: a dead letter stays until someone looks at it.
 */
export const EVENT_TOPIC_CONFIG: Readonly<Record<string, string>> = Object.freeze({
  "cleanup.policy": "delete",
  "retention.ms": "-1",
  "min.insync.replicas": "1",
});

export const DEAD_LETTER_TOPIC_CONFIG: Readonly<Record<string, string>> = Object.freeze({
  "cleanup.policy": "delete",
  "retention.ms": "-1",
});

export interface TopicNames {
  event(type: EventType): string;
  deadLetter(type: EventType, group: string): string;
  group(name: string): string;
}

/** Names carry an optional prefix (TOPIC_PREFIX / GROUP_PREFIX) so environments and test runs can share a cluster. */
export function topicNames(config: Config): TopicNames {
  const { topicPrefix, groupPrefix } = config.kafka;
  return {
    event: (type) => `${topicPrefix}${type}`,
    deadLetter: (type, group) => `${topicPrefix}${type}.${groupPrefix}${group}.dlq`,
    group: (name) => `${groupPrefix}${name}`,
  };
}

export function declaredTopics(
  config: Config,
  consumers: readonly { group: string; topics: readonly EventType[] }[],
): TopicSpec[] {
  const names = topicNames(config);
  const spec = (name: string, topicConfig: Readonly<Record<string, string>>): TopicSpec => ({
    name,
    partitions: config.kafka.partitions,
    replicationFactor: config.kafka.replicationFactor,
    config: topicConfig,
  });
  return [
    ...EVENT_TYPES.map((t) => spec(names.event(t), EVENT_TOPIC_CONFIG)),
    ...consumers.flatMap((c) =>
      c.topics.map((t) => spec(names.deadLetter(t, c.group), DEAD_LETTER_TOPIC_CONFIG)),
    ),
  ];
}
