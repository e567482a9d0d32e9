import { describe, expect, it } from "vitest";
import { OWASP_ARGON2ID, passwordHasher } from "../../api/auth.js";
import { loadConfig } from "../../infra/config.js";

describe("password hashing (argon2id)", () => {
  it("hashes with the configured cost and verifies hashes made with another cost", async () => {
    const cheap = passwordHasher({ memoryKib: 1024, iterations: 1 });
    const owasp = passwordHasher();
    const a = await cheap.hash("correct horse battery");
    const b = await owasp.hash("correct horse battery");
    expect(a).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    expect(b).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    // Each verifies with the cost stored in the hash, whatever the hasher's own cost.
    expect(await owasp.verify(a, "correct horse battery")).toBe(true);
    expect(await cheap.verify(b, "correct horse battery")).toBe(true);
    expect(await owasp.verify(a, "correct horse battery!")).toBe(false);
    expect(await owasp.verify("not a hash", "x")).toBe(false);
  });

  it("defaults to OWASP's minimum and refuses a cost below argon2's floor", () => {
    expect(loadConfig({}).auth.passwordHash).toEqual(OWASP_ARGON2ID);
    expect(
      loadConfig({ PASSWORD_HASH_MEMORY_KIB: "4096", PASSWORD_HASH_ITERATIONS: "3" }).auth.passwordHash,
    ).toEqual({ memoryKib: 4096, iterations: 3 });
    expect(() => loadConfig({ PASSWORD_HASH_MEMORY_KIB: "8" })).toThrow(/PASSWORD_HASH_MEMORY_KIB/);
  });
});
