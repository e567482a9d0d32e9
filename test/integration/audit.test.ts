import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import type { System } from "../../bin/system.js";
import { verifyAuditChain } from "../../processors/audit-verify.js";
import { eventually, http, type TestEnv, testEnv } from "../support/harness.js";
import { type Api, money, userWithWallet } from "../support/money.js";

const run = promisify(execFile);

describe("audit service: a hash-chained, append-only log of every event", () => {
  let env: TestEnv;
  let system: System;
  let api: Api;
  let m: ReturnType<typeof money>;

  /** Every event written so far (the outbox holds them all) has its audit row. */
  const allAudited = () =>
    eventually(async () => {
      const { rows } = await env.db.query(
        `SELECT (SELECT count(*) FROM outbox)::int AS events,
                (SELECT count(*) FROM outbox o WHERE NOT EXISTS
                   (SELECT 1 FROM audit_log a WHERE a.event_id = o.event_id))::int AS missing`,
      );
      return rows[0].missing === 0 ? (rows[0].events as number) : undefined;
    }, 30_000);

  beforeAll(async () => {
    env = await testEnv();
    system = await env.start({
      api: true,
      relay: true,
      processors: ["wallet", "notifications", "email", "audit"],
    });
    api = http(system.apiUrl as string);
    m = money(api);
  });

  it("every event of a scenario has exactly one row, with its actor and subjects, and the chain verifies", async () => {
    const alice = await userWithWallet(api, `alice-${randomUUID().slice(0, 6)}`);
    const bob = await userWithWallet(api, `bob-${randomUUID().slice(0, 6)}`);
    await m.deposit(alice, 5000);
    const t = await m.transfer(alice, bob, 1500);
    await m.withdraw(bob, 500);
    const events = await allAudited();
    // 2 × (user_registered + wallet_created) + deposit + transfer sent/received + withdrawal
    expect(events).toBe(8);
    const { rows } = await env.db.query(
      "SELECT event_type, count(*)::int AS n FROM audit_log GROUP BY event_type ORDER BY event_type",
    );
    expect(rows).toEqual([
      { event_type: "funds_deposited", n: 1 },
      { event_type: "funds_withdrawn", n: 1 },
      { event_type: "transfer_received", n: 1 },
      { event_type: "transfer_sent", n: 1 },
      { event_type: "user_registered", n: 2 },
      { event_type: "wallet_created", n: 2 },
    ]);
    const sent = await env.db.query("SELECT * FROM audit_log WHERE event_type = 'transfer_sent'");
    expect(sent.rows[0]).toMatchObject({
      actor: alice.userId,
      wallet_id: alice.walletId,
      transaction_id: t.body.id,
      amount: "1500",
      currency: "USD",
    });
    expect(sent.rows[0].payload).toMatchObject({ counterpartyWalletId: bob.walletId, amount: 1500 });
    const report = await verifyAuditChain(env.db);
    expect(report).toMatchObject({ ok: true, rows: 8, firstBroken: null });
  });

  it("the log is append-only: UPDATE, DELETE and TRUNCATE are refused", async () => {
    await expect(env.db.query("UPDATE audit_log SET amount = 1 WHERE amount IS NOT NULL")).rejects.toThrow(
      /append-only/,
    );
    await expect(env.db.query("DELETE FROM audit_log")).rejects.toThrow(/append-only/);
    await expect(env.db.query("TRUNCATE audit_log")).rejects.toThrow(/append-only/);
  });

  it("the chain stays linear under concurrent events from two group members", async () => {
    // A second member of audit-service: the partitions are shared, appends come from both at once.
    await env.start({ processors: ["audit"] });
    const users = await Promise.all(
      Array.from({ length: 6 }, () => userWithWallet(api, `c-${randomUUID().slice(0, 8)}`)),
    );
    // One deposit first: the first deposit in a currency creates its external account (see the report).
    expect((await m.deposit(users[0] as (typeof users)[0], 300)).status).toBe(201);
    const moves = await Promise.all([
      ...users.slice(1).map((u) => m.deposit(u, 300)),
      ...users.map((u) => m.deposit(u, 200)),
    ]);
    moves.push(
      ...(await Promise.all(
        users.map((u, i) => m.transfer(u, users[(i + 1) % users.length] as typeof u, 100)),
      )),
    );
    expect(moves.map((r) => r.status)).toEqual(moves.map(() => 201));
    await allAudited();
    const { rows } = await env.db.query(
      `SELECT count(*)::int AS n, count(DISTINCT prev_hash)::int AS prevs,
              count(*) FILTER (WHERE prev_hash IS DISTINCT FROM expected)::int AS unchained
         FROM (SELECT prev_hash, coalesce(lag(hash) OVER (ORDER BY seq), repeat('0', 64)) AS expected
                 FROM audit_log) chain`,
    );
    // 8 before + 6 × (user_registered, wallet_created) + 12 deposits + 6 × (transfer_sent, transfer_received)
    expect(rows[0].n).toBe(8 + 12 + 12 + 12);
    expect(rows[0].prevs).toBe(rows[0].n);
    expect(rows[0].unchained).toBe(0);
    expect((await verifyAuditChain(env.db, { pageSize: 7 })).ok).toBe(true);
  });

  it("altering one row makes the verifier (and npm run audit:verify) name that row", async () => {
    const { rows } = await env.db.query(
      "SELECT seq::text, event_id FROM audit_log WHERE amount IS NOT NULL ORDER BY seq LIMIT 1 OFFSET 2",
    );
    const victim = rows[0];
    // Only someone with DDL rights can do this: the trigger is what stops everyone else.
    await env.db.query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_immutable");
    try {
      await env.db.query("UPDATE audit_log SET amount = amount + 1 WHERE seq = $1", [victim.seq]);
    } finally {
      await env.db.query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_immutable");
    }
    const report = await verifyAuditChain(env.db, { pageSize: 5 });
    expect(report.ok).toBe(false);
    expect(report.firstBroken).toMatchObject({
      seq: victim.seq,
      eventId: victim.event_id,
      problem: "content",
    });

    const cli = await run(process.execPath, ["--import", "tsx", "bin/audit-verify.ts"], {
      env: { ...process.env, DATABASE_URL: env.config.db.url, LOG_LEVEL: "silent" },
    }).then(
      () => ({ code: 0, stdout: "" }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`AUDIT CHAIN BROKEN at seq ${victim.seq} (event ${victim.event_id})`);
  });
});
