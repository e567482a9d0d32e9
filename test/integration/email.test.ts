import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { System } from "../../bin/system.js";
import type { Publisher } from "../../infra/kafka/index.js";
import { createLogger } from "../../infra/log.js";
import { smtpMailer } from "../../infra/mail.js";
import { startSmtpServer } from "../../infra/stack/smtp.js";
import { LocalStack } from "../../infra/stack/stack.js";
import { eventually, http, type TestEnv, testEnv } from "../support/harness.js";
import { inbox } from "../support/inbox.js";
import { type Api, money, type TestUser, userWithWallet } from "../support/money.js";
import { redeliver, redeliverWithoutDedupe } from "../support/replay.js";

const ownsSmtp = inject("ownedServices").includes("smtp");
const FROM = "walletstream <no-reply@walletstream.local>";

describe("email service over real SMTP", () => {
  let env: TestEnv;
  let system: System;
  let api: Api;
  let m: ReturnType<typeof money>;
  let publisher: Publisher;
  let mail: ReturnType<typeof inbox>;

  const subjects = (u: TestUser) =>
    mail
      .to(u.email)
      .map((x) => x.subject)
      .sort();
  const emailRunner = () => system.runners.find((r) => r.group === system.names.group("email-service"));

  beforeAll(async () => {
    // Short backoff with enough attempts to outlast the SMTP outage below (~12 s of retries).
    env = await testEnv({
      EMAIL_MAX_ATTEMPTS: "8",
      EMAIL_RETRY_INITIAL_MS: "300",
      EMAIL_RETRY_MAX_MS: "2000",
      SMTP_FROM: FROM,
    });
    mail = inbox(env.config);
    system = await env.start({
      api: true,
      relay: true,
      processors: ["wallet", "notifications", "email", "audit"],
    });
    api = http(system.apiUrl as string);
    m = money(api);
    publisher = await system.bus.publisher();
    return () => publisher.close();
  });

  it("a welcome email to each new user and a receipt for each movement to the wallet's owner", async () => {
    const alice = await userWithWallet(api, `alice-${randomUUID().slice(0, 6)}`);
    const bob = await userWithWallet(api, `bob-${randomUUID().slice(0, 6)}`);
    await m.deposit(alice, 5000);
    await m.transfer(alice, bob, 1500);
    await m.withdraw(bob, 500);
    await eventually(async () => mail.to(alice.email).length === 3 && mail.to(bob.email).length === 3);
    expect(subjects(alice)).toEqual([
      "Receipt: deposit of 50.00 USD",
      expect.stringMatching(/^Receipt: you sent 15\.00 USD to bob-/),
      expect.stringMatching(/^Welcome to walletstream, alice-/),
    ]);
    expect(subjects(bob)).toEqual([
      "Receipt: withdrawal of 5.00 USD",
      expect.stringMatching(/^Receipt: you received 15\.00 USD from alice-/),
      expect.stringMatching(/^Welcome to walletstream, bob-/),
    ]);
    const receipt = mail.to(bob.email).find((x) => x.subject.startsWith("Receipt: withdrawal"));
    expect(receipt?.text).toContain("Balance after:  10.00 USD");
    expect(receipt?.from).toContain("no-reply@walletstream.local");
    // The Message-ID on the wire is the one recorded with the event.
    const { rows } = await env.db.query(
      "SELECT message_id FROM sent_emails WHERE recipient = $1 ORDER BY message_id",
      [bob.email],
    );
    expect(rows.map((r) => r.message_id)).toEqual(
      mail
        .to(bob.email)
        .map((x) => x.messageId)
        .sort(),
    );
  });

  it("the same event delivered twice (and replayed without its dedupe row) sends one email", async () => {
    const carol = await userWithWallet(api, `carol-${randomUUID().slice(0, 6)}`);
    await m.deposit(carol, 700);
    await eventually(async () => mail.to(carol.email).length === 2);
    const { rows } = await env.db.query(
      `SELECT event_id, event_type, message_key, payload FROM outbox
        WHERE event_type = 'funds_deposited' AND payload->>'walletId' = $1`,
      [carol.walletId],
    );
    const row = rows[0];
    const runner = emailRunner();
    const duplicates = runner?.stats.duplicates ?? 0;
    await redeliver(system, publisher, row);
    await redeliver(system, publisher, row);
    await eventually(async () => (runner?.stats.duplicates ?? 0) >= duplicates + 2);
    // Without the runner's dedupe row the sent_emails row still stops a second send.
    await redeliverWithoutDedupe(system, env.db, publisher, system.names.group("email-service"), row);
    await sleep(500);
    expect(mail.to(carol.email)).toHaveLength(2);
    const sent = await env.db.query("SELECT count(*)::int AS n FROM sent_emails WHERE event_id = $1", [
      row.event_id,
    ]);
    expect(sent.rows[0].n).toBe(1);
  });

  it.runIf(ownsSmtp)(
    "SMTP down for a while: the emails go out when it returns, none twice, none dead-lettered",
    async () => {
      const stack = new LocalStack(env.config, createLogger({ level: "silent", service: "test" }));
      const runner = emailRunner();
      const retriedBefore = runner?.stats.retried ?? 0;
      let users: TestUser[] = [];
      await stack.down("smtp");
      try {
        users = [
          await userWithWallet(api, `dave-${randomUUID().slice(0, 6)}`),
          await userWithWallet(api, `erin-${randomUUID().slice(0, 6)}`),
        ];
        await m.deposit(users[0] as TestUser, 100);
        await eventually(async () => (runner?.stats.retried ?? 0) >= retriedBefore + 3);
        await sleep(1500);
        for (const u of users) expect(mail.to(u.email)).toHaveLength(0);
      } finally {
        await stack.up();
      }
      const [dave, erin] = users as [TestUser, TestUser];
      await eventually(
        async () => mail.to(dave.email).length === 2 && mail.to(erin.email).length === 1,
        30_000,
      );
      // Whatever was still in the retry chain has drained: nothing more arrives.
      await sleep(3000);
      expect(subjects(dave)).toEqual(["Receipt: deposit of 1.00 USD", expect.stringMatching(/^Welcome/)]);
      expect(mail.to(erin.email)).toHaveLength(1);
      expect(runner?.stats.deadLettered).toBe(0);
    },
  );

  it("the transport: a 5xx refusal is final (mail_rejected), a 4xx is worth a retry, a refused connection too", async () => {
    const server = await startSmtpServer({
      host: "127.0.0.1",
      port: 0,
      inbox: mkdtempSync(join(tmpdir(), "smtp-test-")),
      refuse: (rcpt) =>
        rcpt.startsWith("never")
          ? { code: 550, message: "no such mailbox" }
          : rcpt.startsWith("later")
            ? { code: 451, message: "try again later" }
            : undefined,
    });
    try {
      const mailer = smtpMailer({ host: "127.0.0.1", port: server.port, secure: false });
      const message = {
        from: FROM,
        subject: "s",
        text: "t",
        messageId: `<${randomUUID()}@walletstream.local>`,
      };
      await expect(mailer.send({ ...message, to: "ok@example.com" })).resolves.toMatchObject({
        messageId: message.messageId,
      });
      await expect(mailer.send({ ...message, to: "never@example.com" })).rejects.toMatchObject({
        code: "mail_rejected",
        retryable: false,
      });
      await expect(mailer.send({ ...message, to: "later@example.com" })).rejects.toMatchObject({
        code: "mail_unavailable",
        retryable: true,
      });
    } finally {
      await server.close();
    }
    const closed = smtpMailer({ host: "127.0.0.1", port: server.port, secure: false });
    await expect(
      closed.send({ from: FROM, to: "ok@example.com", subject: "s", text: "t", messageId: "<x@y.z>" }),
    ).rejects.toMatchObject({ code: "mail_unavailable", retryable: true });
  });
});
