import { describe, expect, it } from "vitest";
import { parseAmount } from "../../api/money/amount.js";
import { AppError } from "../../infra/errors.js";

const parse = (raw: string, max = 10 ** 12) => parseAmount(raw, JSON.parse(raw), max);

describe("parseAmount", () => {
  it("accepts plain integer literals within 1..max", () => {
    expect(parse('{"amount": 1}')).toBe(1);
    expect(parse('{"amount":1000000000000}')).toBe(10 ** 12);
    expect(parse('{ "currency": "USD", "amount" : 250 }')).toBe(250);
  });

  it.each([
    ['{"amount": 0}'],
    ['{"amount": -1}'],
    ['{"amount": 1.5}'],
    ['{"amount": 1.0}'],
    ['{"amount": "10"}'],
    ['{"amount": 1e3}'],
    ['{"amount": 1E3}'],
    ['{"amount": 1000000000001}'],
    ['{"amount": 9007199254740993}'],
    ['{"amount": null}'],
    ['{"amount": true}'],
    ['{"\\u0061mount": 5}'],
    ["{}"],
  ])("refuses %s with invalid_amount", (raw) => {
    let error: unknown;
    try {
      parse(raw);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("invalid_amount");
  });
});
