import { COMPATIBILITY, SchemaRegistry, SchemaType } from "@kafkajs/confluent-schema-registry";
import avro from "avsc";
import { avroSchema, EVENT_TYPES, type EventPayload, type EventType } from "../schemas/index.js";
import { AppError } from "./errors.js";
import { TOPIC_OF, type TopicNames, typesOn } from "./topics.js";

const fullName = (type: EventType) => {
  const s = avroSchema(type);
  return s.namespace ? `${s.namespace}.${s.name}` : s.name;
};

/**
 * Subject naming, chosen on purpose: a topic that carries one event type uses Confluent's TopicNameStrategy
 * (`<topic>-value`); a topic that carries several (wallet_transactions) uses TopicRecordNameStrategy
 * (`<topic>-<record full name>`), so each type evolves under its own compatibility check. Consumers never need
 * the subject: records carry their schema id.
 */
export function subjectFor(topic: string, type: EventType): string {
  return typesOn(TOPIC_OF[type]).length > 1 ? `${topic}-${fullName(type)}` : `${topic}-value`;
}

const MAGIC_BYTE = 0;

export interface DecodedEvent<T extends EventType = EventType> {
  readonly type: T;
  readonly payload: EventPayload<T>;
  readonly schemaId: number;
}

/**
 * Encodes and decodes events in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body) through
 * a Confluent-compatible registry (Apicurio's /apis/ccompat/v7 here). Schemas fetched by id are cached for the
 * life of the process, so a registry outage does not stop known schemas from flowing.
 */
export class EventCodec {
  private readonly registry: SchemaRegistry;
  private readonly ids = new Map<EventType, number>();
  private readonly readers = new Map<EventType, avro.Type>();
  private readonly decoders = new Map<number, (body: Buffer) => unknown>();

  constructor(
    private readonly url: string,
    private readonly names: TopicNames,
  ) {
    this.registry = new SchemaRegistry({ host: url, clientId: "walletstream", retry: { retries: 2 } });
  }

  /**
   * Registers every event schema under its subject with BACKWARD compatibility (set on first registration).
   * Registering an unchanged schema returns its existing id; an incompatible change is refused (HTTP 409).
   */
  async registerAll(): Promise<Map<EventType, number>> {
    for (const type of EVENT_TYPES) await this.register(type);
    return new Map(this.ids);
  }

  async register(type: EventType, schema: object = avroSchema(type)): Promise<number> {
    const subject = subjectFor(this.names.event(type), type);
    // The level is set before the first version exists, so no version is ever accepted without the check;
    // the client then finds BACKWARD and leaves it alone.
    await this.ensureCompatibility(subject, COMPATIBILITY.BACKWARD);
    const { id } = await this.registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    );
    if (schema === avroSchema(type)) this.ids.set(type, id);
    return id;
  }

  /**
   * Sets a subject's compatibility level unless it has it. Idempotent and safe when several processes start at
   * once: the registry refuses a concurrent second PUT ("rule already exists"), so a refusal is followed by a
   * read that must show the level.
   */
  private async ensureCompatibility(subject: string, level: COMPATIBILITY): Promise<void> {
    const base = `${this.url.replace(/\/$/, "")}/config/${encodeURIComponent(subject)}`;
    const current = async () => {
      const res = await fetch(base, { signal: AbortSignal.timeout(5000) });
      return res.ok ? ((await res.json()) as { compatibilityLevel?: string }).compatibilityLevel : undefined;
    };
    if ((await current()) === level) return;
    const res = await fetch(base, {
      method: "PUT",
      headers: { "content-type": "application/vnd.schemaregistry.v1+json" },
      body: JSON.stringify({ compatibility: level }),
      signal: AbortSignal.timeout(5000),
    });
    if (res.ok || (await current()) === level) return;
    throw new Error(`setting ${subject} to ${level} failed: HTTP ${res.status} ${await res.text()}`);
  }

  /** Throws AppError `event_invalid` (not retryable) when the payload does not match its schema. */
  async encode<T extends EventType>(type: T, payload: EventPayload<T>): Promise<Buffer> {
    const reader = this.reader(type);
    const paths: string[] = [];
    if (!reader.isValid(payload, { errorHook: (path) => paths.push(path.join(".")) })) {
      throw new AppError(
        "event_invalid",
        `${type} payload does not match its schema at: ${paths.join(", ")}`,
      );
    }
    const id = this.ids.get(type) ?? (await this.latestId(type));
    const header = Buffer.alloc(5);
    header.writeUInt8(MAGIC_BYTE, 0);
    header.writeUInt32BE(id, 1);
    return Buffer.concat([header, reader.toBuffer(payload)]);
  }

  /**
   * Decodes a record of a topic that carries `types`: the writer's schema (fetched by id, cached) names the
   * event type, and the body is resolved into this code's schema for that type.
   * Throws AppError `event_undecodable` (fatal: dead-letter it) for bytes that are not the wire format, an id
   * the registry does not know, a record of another type, or a body that does not decode; a registry outage
   * is `service_unavailable` (retryable).
   */
  async decode<T extends EventType>(types: readonly T[], value: Buffer | null): Promise<DecodedEvent<T>> {
    if (!value || value.length < 6 || value.readUInt8(0) !== MAGIC_BYTE) {
      throw new AppError("event_undecodable", "not in the Confluent wire format (magic byte 0 + schema id)");
    }
    const schemaId = value.readUInt32BE(1);
    try {
      const writer = (await this.registry.getSchema(schemaId)) as { name?: string };
      const type = types.find((t) => fullName(t) === writer.name);
      if (!type) {
        throw new AppError(
          "event_undecodable",
          `schema id ${schemaId} (${writer.name}) is not one of ${types.join(", ")}`,
        );
      }
      const payload = this.bodyDecoder(schemaId, type, writer as avro.Type)(value.subarray(5));
      return { type, payload: payload as EventPayload<T>, schemaId };
    } catch (err) {
      if (err instanceof AppError) throw err;
      const status = (err as { status?: number }).status;
      if (isNetworkError(err) || (status !== undefined && status >= 500)) {
        throw new AppError("service_unavailable", "schema registry unavailable", {
          retryable: true,
          cause: err,
        });
      }
      // Unknown id (404), a body that does not decode, or a writer schema that cannot resolve into ours.
      throw new AppError("event_undecodable", `schema id ${schemaId}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** The registry's schema for `id`, as JSON (tests and tools read messages through this). */
  async schemaById(id: number): Promise<unknown> {
    const schema = await this.registry.getSchema(id);
    return JSON.parse(JSON.stringify(schema));
  }

  private async latestId(type: EventType): Promise<number> {
    const id = await this.registry.getLatestSchemaId(subjectFor(this.names.event(type), type));
    this.ids.set(type, id);
    return id;
  }

  /**
   * Decodes an Avro body written with schema `schemaId` into this code's schema for `type`. Built once per
   * schema id: the registry client's own decode compiles the reader schema (avsc Type.forSchema) and a
   * resolver on every call, which was 17 % of a processor's CPU (docs/benchmarks.md, pipeline).
   */
  private bodyDecoder(schemaId: number, type: EventType, writer: avro.Type): (body: Buffer) => unknown {
    let decode = this.decoders.get(schemaId);
    if (!decode) {
      const reader = this.reader(type);
      // Equal schemas still decode with the reader (its options may differ: avsc issue 362).
      const resolver = reader.equals(writer) ? undefined : reader.createResolver(writer);
      decode = resolver ? (body) => reader.fromBuffer(body, resolver) : (body) => reader.fromBuffer(body);
      this.decoders.set(schemaId, decode);
    }
    return decode;
  }

  private reader(type: EventType): avro.Type {
    let t = this.readers.get(type);
    if (!t) {
      t = avro.Type.forSchema(avroSchema(type) as avro.Schema);
      this.readers.set(type, t);
    }
    return t;
  }
}

function isNetworkError(err: unknown): boolean {
  const text = `${(err as Error)?.message ?? ""} ${String((err as { code?: unknown })?.code ?? "")}`;
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|socket hang up|fetch failed/i.test(text);
}
