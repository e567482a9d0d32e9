import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { EVENT_TYPES, type EventPayloads } from "./generated.js";

/**
 * The Avro schemas are the single source of truth for events: the .avsc files here are registered with
 * the schema registry, and the TypeScript types in generated.ts are derived from them.
 * This folder imports nothing else of walletstream.
 */
export * from "./generated.js";

export type EventType = (typeof EVENT_TYPES)[number];
export type EventPayload<T extends EventType = EventType> = EventPayloads[T];

export interface AvroRecordSchema {
  readonly type: "record";
  readonly name: string;
  readonly namespace?: string;
  readonly doc?: string;
  readonly fields: readonly { name: string; type: unknown; doc?: string; default?: unknown }[];
}

const cache = new Map<EventType, AvroRecordSchema>();

export function avroSchema(type: EventType): AvroRecordSchema {
  let schema = cache.get(type);
  if (!schema) {
    schema = JSON.parse(readFileSync(fileURLToPath(new URL(`./${type}.avsc`, import.meta.url)), "utf8"));
    cache.set(type, schema as AvroRecordSchema);
  }
  return schema as AvroRecordSchema;
}

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}
