import { describe, expect, it } from "vitest";
import { AppError, isRetryable, isUnavailable } from "../../infra/errors.js";

describe("error classification", () => {
  it("database and network outages are 'unavailable' and retryable", () => {
    for (const err of [
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
      Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" }),
      Object.assign(new Error("connection failure"), { code: "08006" }),
      new Error("Connection terminated unexpectedly"),
      new AppError("service_unavailable"),
    ]) {
      expect(isUnavailable(err), err.message).toBe(true);
      expect(isRetryable(err), err.message).toBe(true);
    }
  });

  it("serialization failures and deadlocks are retryable but not outages", () => {
    const err = Object.assign(new Error("could not serialize access"), { code: "40001" });
    expect(isRetryable(err)).toBe(true);
    expect(isUnavailable(err)).toBe(false);
  });

  it("unknown and programmer errors are fatal; the classifier never throws", () => {
    for (const err of [new TypeError("x is undefined"), "a string", null, undefined, 42, { code: 7 }]) {
      expect(isRetryable(err)).toBe(false);
    }
    expect(isRetryable(new AppError("event_undecodable"))).toBe(false);
    expect(isRetryable(new AppError("internal", "flaky", { retryable: true }))).toBe(true);
  });

  it("AppError carries the status of its code and hides 5xx messages by default", () => {
    expect(new AppError("email_taken")).toMatchObject({ status: 409, expose: true, code: "email_taken" });
    expect(new AppError("internal", "db password is hunter2")).toMatchObject({ status: 500, expose: false });
  });
});
