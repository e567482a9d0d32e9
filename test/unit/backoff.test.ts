import { describe, expect, it } from "vitest";
import { backoffDelay } from "../../processors/backoff.js";

describe("backoffDelay", () => {
  it("fixed backoff is constant", () => {
    expect([1, 2, 5].map((a) => backoffDelay({ kind: "fixed", delayMs: 300 }, a))).toEqual([300, 300, 300]);
  });

  it("exponential backoff doubles up to the cap", () => {
    const b = { kind: "exponential", initialMs: 100, maxMs: 1000, jitter: false } as const;
    expect([1, 2, 3, 4, 5, 10].map((a) => backoffDelay(b, a))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it("jitter keeps the delay between half and all of the exponential value", () => {
    const b = { kind: "exponential", initialMs: 100, maxMs: 10_000, jitter: true } as const;
    expect(backoffDelay(b, 3, () => 0)).toBe(200);
    expect(backoffDelay(b, 3, () => 1)).toBe(400);
    expect(backoffDelay(b, 3, () => 0.5)).toBe(300);
  });
});
