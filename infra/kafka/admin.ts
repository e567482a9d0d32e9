import type { Admin, Kafka } from "kafkajs";
import type { BusAdmin, EnsureTopicsResult, TopicSpec } from "./types.js";

/** Polls metadata until every partition of `topics` has a leader (30 s at most). */
async function waitForLeaders(admin: Admin, topics: readonly string[]): Promise<void> {
  if (topics.length === 0) return;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [...topics] });
      const ready =
        meta.topics.length === topics.length &&
        meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (ready) return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`topics without a leader after 30 s: ${topics.join(", ")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Commits offsets for a group by joining it once as a paused member (kafkajs' admin.setOffsets joins once per
 * topic and does not leave, so each call waits out the previous member's session). Leaves cleanly.
 */
async function commitAsMember(
  kafka: Kafka,
  groupId: string,
  offsets: readonly { topic: string; partition: number; offset: string }[],
): Promise<void> {
  const topics = [...new Set(offsets.map((o) => o.topic))];
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: 10_000 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    // As kafkajs' admin.setOffsets does, for every topic at once: seek while paused; with autoCommit the
    // sought offsets are committed, and the first fetch event says the seeks went through.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`could not join ${groupId} to move its offsets`)),
        60_000,
      );
      consumer.on(consumer.events.FETCH, () => {
        clearTimeout(timer);
        resolve();
      });
      consumer
        .run({ autoCommit: true, eachBatchAutoResolve: false, eachBatch: async () => undefined })
        .catch(reject);
      consumer.pause(topics.map((topic) => ({ topic })));
      for (const o of offsets) consumer.seek({ topic: o.topic, partition: o.partition, offset: o.offset });
    });
  } finally {
    await consumer.disconnect();
  }
}

export function kafkaAdmin(admin: Admin, kafka: Kafka): BusAdmin {
  return {
    async ensureTopics(specs: readonly TopicSpec[]): Promise<EnsureTopicsResult> {
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((s) => !existing.has(s.name));
      if (missing.length > 0) {
        await admin.createTopics({
          // Waited for below: kafkajs' own wait gives up on "does not host this topic-partition", which a
          // busy broker answers for a while after creating many topics at once.
          waitForLeaders: false,
          topics: missing.map((s) => ({
            topic: s.name,
            numPartitions: s.partitions,
            replicationFactor: s.replicationFactor,
            configEntries: Object.entries(s.config).map(([name, value]) => ({ name, value })),
          })),
        });
      }
      await waitForLeaders(
        admin,
        missing.map((s) => s.name),
      );
      const present = specs.filter((s) => existing.has(s.name));
      const underPartitioned: { name: string; has: number; declared: number }[] = [];
      const reconfigured: string[] = [];
      if (present.length > 0) {
        const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.name) });
        for (const t of meta.topics) {
          const spec = present.find((s) => s.name === t.name);
          if (spec && t.partitions.length < spec.partitions) {
            underPartitioned.push({ name: t.name, has: t.partitions.length, declared: spec.partitions });
          }
        }
        const described = await admin.describeConfigs({
          includeSynonyms: false,
          resources: present.map((s) => ({ type: 2 /* TOPIC */, name: s.name })),
        });
        for (const res of described.resources) {
          const spec = present.find((s) => s.name === res.resourceName);
          if (!spec) continue;
          const current = new Map(res.configEntries.map((e) => [e.configName, e.configValue]));
          const drift = Object.entries(spec.config).filter(([k, v]) => current.get(k) !== v);
          if (drift.length === 0) continue;
          // alterConfigs replaces the topic's dynamic config as a whole: send the full declared set.
          await admin.alterConfigs({
            validateOnly: false,
            resources: [
              {
                type: 2,
                name: spec.name,
                configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
              },
            ],
          });
          reconfigured.push(spec.name);
        }
      }
      return { created: missing.map((s) => s.name), reconfigured, underPartitioned };
    },
    listTopics: () => admin.listTopics(),
    async deleteTopics(names) {
      if (names.length > 0) await admin.deleteTopics({ topics: [...names] });
    },
    async topicOffsets(topic) {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high }));
    },
    async groupOffsets(groupId, topic) {
      const res = await admin.fetchOffsets({ groupId, topics: [topic] });
      return (res[0]?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset }));
    },
    async deleteGroups(groupIds) {
      if (groupIds.length > 0) await admin.deleteGroups([...groupIds]);
    },
    async describeGroup(groupId) {
      const { groups } = await admin.describeGroups([groupId]);
      const g = groups[0];
      return { state: g?.state ?? "Dead", members: g?.members.length ?? 0 };
    },
    async setGroupOffsets(groupId, offsets) {
      if (offsets.length === 0) return;
      await commitAsMember(kafka, groupId, offsets);
    },
    async offsetsAtTimestamp(topic, timestamp) {
      const res = await admin.fetchTopicOffsetsByTimestamp(topic, timestamp);
      return res.map((o) => ({ partition: o.partition, offset: o.offset }));
    },
    async deleteRecordsBefore(topic, partition, offset) {
      await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset }] });
    },
    close: () => admin.disconnect(),
  };
}
