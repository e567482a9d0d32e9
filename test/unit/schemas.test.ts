import { readdirSync, readFileSync } from "node:fs";
import avro from "avsc";
import { describe, expect, it } from "vitest";
import { generate } from "../../schemas/codegen.js";
import { avroSchema, EVENT_TYPES } from "../../schemas/index.js";

describe("schemas", () => {
  it("generated.ts is up to date with the .avsc files (run `npm run schemas:gen`)", () => {
    expect(readFileSync(new URL("../../schemas/generated.ts", import.meta.url), "utf8")).toBe(generate());
  });

  it("every .avsc is a valid Avro record with an eventId and an occurredAt", () => {
    const files = readdirSync(new URL("../../schemas/", import.meta.url)).filter((f) => f.endsWith(".avsc"));
    expect(files.map((f) => f.replace(".avsc", "")).sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of EVENT_TYPES) {
      const schema = avroSchema(type);
      expect(() => avro.Type.forSchema(schema as avro.Schema)).not.toThrow();
      const names = schema.fields.map((f) => f.name);
      expect(names).toContain("eventId");
      expect(names).toContain("occurredAt");
    }
  });
});
