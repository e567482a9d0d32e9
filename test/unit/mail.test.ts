import { describe, expect, it } from "vitest";
import { AppError, isRetryable, isUnavailable } from "../../infra/errors.js";
import { mailError } from "../../infra/mail.js";

describe("mailError", () => {
  it("a refused connection, a timeout or a 4xx is retryable, but not an outage the runner waits out", () => {
    for (const err of [
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:2525"), { code: "ESOCKET" }),
      Object.assign(new Error("Connection timeout"), { code: "ETIMEDOUT" }),
      Object.assign(new Error("451 try again later"), { code: "EENVELOPE", responseCode: 451 }),
      Object.assign(new Error("535 bad credentials"), { code: "EAUTH", responseCode: 535 }),
    ]) {
      const e = mailError(err);
      expect(e.code, err.message).toBe("mail_unavailable");
      expect(isRetryable(e)).toBe(true);
      expect(isUnavailable(e)).toBe(false);
    }
  });

  it("a 5xx about the message is final", () => {
    const e = mailError(
      Object.assign(new Error("550 no such user"), { code: "EENVELOPE", responseCode: 550 }),
    );
    expect(e).toBeInstanceOf(AppError);
    expect(e.code).toBe("mail_rejected");
    expect(isRetryable(e)).toBe(false);
  });
});
