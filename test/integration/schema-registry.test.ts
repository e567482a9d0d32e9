import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { System } from "../../bin/system.js";
import { loadConfig } from "../../infra/config.js";
import { EventCodec, subjectFor } from "../../infra/registry.js";
import { topicNames } from "../../infra/topics.js";
import { avroSchema } from "../../schemas/index.js";
import { type TestEnv, testEnv } from "../support/harness.js";

describe("schemas in the registry", () => {
  let env: TestEnv;
  let system: System;

  beforeAll(async () => {
    env = await testEnv();
    system = await env.start({});
  });

  it("registers every event under <topic>-value with BACKWARD compatibility", async () => {
    const subject = subjectFor(system.names.event("user_registered"), "user_registered");
    const config = await fetch(`${env.config.registry.url}/config/${subject}`);
    expect(config.status).toBe(200);
    expect(((await config.json()) as { compatibilityLevel: string }).compatibilityLevel).toBe("BACKWARD");
    const versions = await fetch(`${env.config.registry.url}/subjects/${subject}/versions`);
    expect(await versions.json()).toEqual([1]);
  });

  it("a topic carrying several event types has one subject per type (TopicRecordNameStrategy)", async () => {
    const topic = system.names.event("transfer_sent");
    expect(topic).toBe(system.names.event("funds_deposited"));
    // Subject by subject: the registry's /subjects listing is paginated (1 000 by default), and a long-lived dev
    // registry holds more than that.
    const versionsOf = async (subject: string) =>
      (await fetch(`${env.config.registry.url}/subjects/${encodeURIComponent(subject)}/versions`)).status;
    expect(await versionsOf(`${topic}-io.walletstream.events.TransferSent`)).toBe(200);
    expect(await versionsOf(`${topic}-io.walletstream.events.FundsDeposited`)).toBe(200);
    expect(await versionsOf(`${topic}-value`)).toBe(404);
  });

  it("registering the unchanged schema again keeps its id (start-up is idempotent)", async () => {
    const ids = await system.codec.registerAll();
    const again = await system.codec.registerAll();
    expect(again).toEqual(ids);
  });

  it("several processes registering new subjects at the same moment all succeed, with BACKWARD set", async () => {
    const names = topicNames(
      loadConfig({ ...process.env, TOPIC_PREFIX: `race-${randomUUID().slice(0, 8)}.` }),
    );
    const codecs = Array.from({ length: 4 }, () => new EventCodec(env.config.registry.url, names));
    const results = await Promise.all(codecs.map((c) => c.registerAll()));
    for (const r of results) expect(r).toEqual(results[0]);
    const subject = subjectFor(names.event("user_registered"), "user_registered");
    const res = await fetch(`${env.config.registry.url}/config/${subject}`);
    expect(((await res.json()) as { compatibilityLevel: string }).compatibilityLevel).toBe("BACKWARD");
  });

  it("refuses an incompatible change and accepts a compatible one", async () => {
    const current = avroSchema("user_registered");
    // A new field without a default: readers on the new schema cannot read old records → not BACKWARD.
    const incompatible = { ...current, fields: [...current.fields, { name: "country", type: "string" }] };
    await expect(system.codec.register("user_registered", incompatible)).rejects.toThrow(/409|incompatib/i);

    const compatible = {
      ...current,
      fields: [...current.fields, { name: "country", type: ["null", "string"], default: null }],
    };
    const id = await system.codec.register("user_registered", compatible);
    expect(id).toBeGreaterThan(0);
    const subject = subjectFor(system.names.event("user_registered"), "user_registered");
    const versions = await fetch(`${env.config.registry.url}/subjects/${subject}/versions`);
    expect(await versions.json()).toEqual([1, 2]);
  });
});
