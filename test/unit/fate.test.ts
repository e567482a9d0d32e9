import { describe, expect, it } from "vitest";
import { AppError } from "../../infra/errors.js";
import type { IncomingRecord } from "../../infra/kafka/index.js";
import { fate, refusal, uuidKey } from "../../processors/fate.js";
import type { RetryPolicy } from "../../processors/types.js";

const policy: RetryPolicy = { attempts: 3, backoff: { kind: "fixed", delayMs: 10 } };
const record = (value: Buffer | null): IncomingRecord => ({
  topic: "t",
  partition: 0,
  offset: "0",
  key: null,
  value,
  headers: {},
  timestamp: 0,
});

describe("what becomes of a failed record", () => {
  it("waits out outages, retries retryable errors until the last attempt, dead-letters the rest", () => {
    const retryable = new AppError("internal", "x", { retryable: true });
    expect(fate(new AppError("service_unavailable"), 3, policy)).toBe("wait");
    expect(fate(Object.assign(new Error("down"), { code: "ECONNREFUSED" }), 1, policy)).toBe("wait");
    expect(fate(retryable, 1, policy)).toBe("retry");
    expect(fate(retryable, 2, policy)).toBe("retry");
    expect(fate(retryable, 3, policy)).toBe("dead-letter");
    expect(fate(new TypeError("bug"), 1, policy)).toBe("dead-letter");
    expect(fate(new TypeError("bug"), 1, { ...policy, isRetryable: () => true })).toBe("retry");
  });

  it("refuses records without a value and over the size limit, before decoding", () => {
    expect(refusal(record(null), 10)?.code).toBe("event_undecodable");
    expect(refusal(record(Buffer.alloc(0)), 10)?.code).toBe("event_undecodable");
    expect(refusal(record(Buffer.alloc(10)), 10)).toBeUndefined();
    const tooLarge = refusal(record(Buffer.alloc(11)), 10);
    expect(tooLarge?.code).toBe("record_too_large");
    expect(tooLarge?.retryable).toBe(false);
    expect(tooLarge?.message).toContain("11 bytes");
  });

  it("spells uuids as PostgreSQL returns them, and rejects what is not one", () => {
    const id = "0F8FAD5B-D9CB-469F-A165-70867728950E";
    expect(uuidKey(id)).toBe("0f8fad5bd9cb469fa16570867728950e");
    expect(uuidKey(id.toLowerCase())).toBe(uuidKey(id));
    expect(uuidKey(`{${id}}`)).toBe(uuidKey(id));
    expect(uuidKey("0f8fad5bd9cb469fa16570867728950e")).toBe(uuidKey(id));
    expect(uuidKey("not-a-uuid")).toBeUndefined();
    expect(uuidKey("")).toBeUndefined();
  });
});
