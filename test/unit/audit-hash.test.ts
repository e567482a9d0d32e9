import { describe, expect, it } from "vitest";
import { type AuditContent, auditHash, canonicalJson, GENESIS_HASH } from "../../processors/audit-hash.js";

describe("canonicalJson", () => {
  it("sorts keys at every depth and has no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: "x" }], c: true } })).toBe(
      '{"a":{"c":true,"d":[3,{"y":"x","z":null}]},"b":1}',
    );
  });

  it("is the same for an object and its jsonb round trip (keys reordered)", () => {
    const original = { userId: "u", amount: 1500, reference: null, eventId: "e", nested: { β: "ü", a: 1 } };
    const reordered = JSON.parse(
      '{"nested":{"a":1,"β":"ü"},"amount":1500,"eventId":"e","reference":null,"userId":"u"}',
    );
    expect(canonicalJson(reordered)).toBe(canonicalJson(original));
  });

  it("drops undefined properties (as JSON does) and refuses what JSON cannot carry faithfully", () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 1n, new Date(0), [undefined], () => 1]) {
      expect(() => canonicalJson(bad)).toThrow(TypeError);
    }
  });
});

describe("auditHash", () => {
  const content: AuditContent = {
    seq: "1",
    eventId: "e1",
    eventType: "funds_deposited",
    actor: "u1",
    walletId: "w1",
    transactionId: "t1",
    amount: "1500",
    currency: "USD",
    occurredAt: 1_700_000_000_000,
    payload: { eventId: "e1", amount: 1500 },
  };

  it("is sha256 hex over the previous hash and the canonical content", () => {
    const h = auditHash(GENESIS_HASH, content);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(auditHash(GENESIS_HASH, { ...content })).toBe(h);
  });

  it("changes with the previous hash and with any field of the row", () => {
    const h = auditHash(GENESIS_HASH, content);
    expect(auditHash("1".repeat(64), content)).not.toBe(h);
    const variants: Partial<AuditContent>[] = [
      { seq: "2" },
      { amount: "1501" },
      { actor: null },
      { occurredAt: content.occurredAt + 1 },
      { payload: { eventId: "e1", amount: 1501 } },
    ];
    for (const v of variants) expect(auditHash(GENESIS_HASH, { ...content, ...v })).not.toBe(h);
  });
});
