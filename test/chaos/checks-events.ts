import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { stackLayout } from "../../infra/stack/layout.js";
import type { StoredMail } from "../../infra/stack/smtp.js";
import { verifyAuditChain } from "../../processors/audit-verify.js";
import { type Check, first } from "./checks.js";
import { type ChaosEnv, PROCESSOR_GROUPS } from "./env.js";

const MONEY = ["funds_deposited", "funds_withdrawn", "transfer_sent", "transfer_received"];
/** Which effects each event type must have, exactly once: audit row, notification, email. */
const EXPECTED: Readonly<Record<string, { audit: 1; notification: 0 | 1; email: 0 | 1 }>> = {
  user_registered: { audit: 1, notification: 0, email: 1 },
  wallet_created: { audit: 1, notification: 1, email: 0 },
  ...Object.fromEntries(MONEY.map((t) => [t, { audit: 1, notification: 1, email: 1 } as const])),
};
/** The event types each group consumes (processors/*.ts). */
const CONSUMES: Readonly<Record<string, readonly string[]>> = {
  [PROCESSOR_GROUPS.wallet]: ["user_registered"],
  [PROCESSOR_GROUPS.notifications]: ["wallet_created", ...MONEY],
  [PROCESSOR_GROUPS.email]: ["user_registered", ...MONEY],
  [PROCESSOR_GROUPS.audit]: Object.keys(EXPECTED),
};

export interface EventCounts {
  /** Outbox rows per event type: the events produced. */
  readonly produced: Record<string, number>;
  /** processed_events rows per consumer group: the events consumed (applied once each). */
  readonly consumed: Record<string, number>;
  readonly deadLetters: number;
  readonly emailsSent: number;
  readonly inboxMessages: number;
  /** Emails the SMTP server got twice, each right after a crash in the documented send → commit window. */
  readonly emailsResentAfterCrash: number;
}

interface EffectRow {
  event_type: string;
  event_id: string;
  audit: number;
  notification: number;
  email: number;
}

/** Events, their side effects (audit, notification, email over SMTP), the consumer groups and dead letters. */
export async function eventChecks(
  env: ChaosEnv,
  since: number,
  /** When the send → commit window of an email could be broken (ms since epoch), see inboxCheck. */
  crashes: readonly number[],
): Promise<{ checks: Check[]; counts: EventCounts }> {
  const checks: Check[] = [];
  const { rows: outbox } = await env.db.query<{ event_type: string; unpublished: number; failed: number }>(
    `SELECT event_type, count(*) FILTER (WHERE published_at IS NULL AND failed_at IS NULL)::int AS unpublished,
            count(*) FILTER (WHERE failed_at IS NOT NULL)::int AS failed FROM outbox GROUP BY event_type`,
  );
  const unpublished = outbox.reduce((n, r) => n + r.unpublished + r.failed, 0);
  checks.push({
    name: "every event published (outbox empty, none parked as unpublishable)",
    ok: unpublished === 0,
    detail: `${unpublished} rows not published`,
    lost: unpublished,
  });

  const { rows: effects } = await env.db.query<EffectRow>(
    `SELECT o.event_type, o.event_id,
            (SELECT count(*) FROM audit_log a WHERE a.event_id = o.event_id)::int AS audit,
            (SELECT count(*) FROM notifications n WHERE n.event_id = o.event_id)::int AS notification,
            (SELECT count(*) FROM sent_emails e WHERE e.event_id = o.event_id)::int AS email
       FROM outbox o`,
  );
  const produced: Record<string, number> = {};
  for (const r of effects) produced[r.event_type] = (produced[r.event_type] ?? 0) + 1;
  for (const effect of ["audit", "notification", "email"] as const) {
    const wrong = effects.filter((r) => r[effect] !== (EXPECTED[r.event_type]?.[effect] ?? 0));
    const lost = wrong.filter((r) => r[effect] < (EXPECTED[r.event_type]?.[effect] ?? 0));
    checks.push({
      name: `every event has its ${effect === "audit" ? "audit record" : effect} exactly once`,
      ok: wrong.length === 0,
      detail: `${effects.filter((r) => EXPECTED[r.event_type]?.[effect]).length} expected; missing ${lost.length}, extra ${wrong.length - lost.length}${first(wrong.map((r) => `${r.event_type} ${r.event_id}: ${r[effect]}`))}`,
      lost: lost.length,
      duplicated: wrong.length - lost.length,
    });
  }
  const { rows: orphans } = await env.db.query<{ n: number }>(
    `SELECT ((SELECT count(*) FROM audit_log a WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = a.event_id))
           + (SELECT count(*) FROM notifications n WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = n.event_id))
           + (SELECT count(*) FROM sent_emails e WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.event_id)))::int AS n`,
  );
  checks.push({
    name: "no effect without an event (audit, notification, email rows all trace to an outbox row)",
    ok: orphans[0]?.n === 0,
    detail: `${orphans[0]?.n ?? "?"} orphan rows`,
    duplicated: orphans[0]?.n ?? 0,
  });

  const consumed = await consumedPerGroup(env);
  const groupProblems = Object.entries(CONSUMES).flatMap(([base, types]) => {
    const expected = types.reduce((n, t) => n + (produced[t] ?? 0), 0);
    const got = consumed[env.tools.names.group(base)] ?? 0;
    return got === expected ? [] : [`${base}: ${got} of ${expected}`];
  });
  checks.push({
    name: "every group applied every event it consumes, once (processed_events)",
    ok: groupProblems.length === 0,
    detail: groupProblems.length ? groupProblems.join("; ") : "all groups complete",
  });

  const mail = await inboxCheck(env, since, crashes);
  checks.push(...mail.checks);

  const audit = await verifyAuditChain(env.db);
  checks.push({
    name: "audit chain verifies",
    ok: audit.ok,
    detail: audit.ok
      ? `${audit.rows} rows, last seq ${audit.lastSeq}`
      : `broken at seq ${audit.firstBroken?.seq}: ${audit.firstBroken?.detail}`,
  });

  // The broker may be the one thing still down: say so in the check instead of losing every other verdict.
  const dlq = await deadLetters(env).catch((err: unknown) => ({
    topics: 0,
    total: Number.NaN,
    samples: [`could not read them: ${err instanceof Error ? err.message : String(err)}`],
  }));
  checks.push({
    name: "dead-letter topics are empty (no fatal error was injected)",
    ok: dlq.total === 0,
    detail: `${dlq.topics} topics, ${dlq.total} records${first(dlq.samples)}`,
    lost: Number.isNaN(dlq.total) ? 0 : dlq.total,
  });
  return {
    checks,
    counts: {
      produced,
      consumed,
      deadLetters: dlq.total,
      emailsSent: mail.sent,
      inboxMessages: mail.received,
      emailsResentAfterCrash: mail.explained,
    },
  };
}

async function consumedPerGroup(env: ChaosEnv): Promise<Record<string, number>> {
  const { rows } = await env.db.query<{ consumer_group: string; n: number }>(
    "SELECT consumer_group, count(*)::int AS n FROM processed_events GROUP BY consumer_group",
  );
  return Object.fromEntries(rows.map((r) => [r.consumer_group, r.n]));
}

/**
 * Each sent_emails row must have reached the SMTP server: a message with its Message-ID in the development
 * server's inbox (files named by reception time in ms; only this run's are read). SMTP is outside the database
 * transaction, so one window is documented (docs/architecture.md): the server accepted the message, then the
 * sender died (or lost the database, or the server went down before its reply) before the commit, and the retry
 * sends it again with the same Message-ID. A second delivery is therefore allowed only when such a crash came
 * right after the first one (from 1 s before to 5 s after it); any other second delivery is a violation.
 */
async function inboxCheck(
  env: ChaosEnv,
  since: number,
  crashes: readonly number[],
): Promise<{ checks: Check[]; sent: number; received: number; explained: number }> {
  const { rows } = await env.db.query<{ message_id: string }>("SELECT message_id FROM sent_emails");
  const received = new Map<string, number[]>(rows.map((r) => [r.message_id, []]));
  const dir = stackLayout(env.config).smtpInbox;
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json") && Number.parseInt(n, 10) >= since - 1000);
  } catch {
    // No inbox folder: every email counts as missing below.
  }
  for (const name of names) {
    let mail: StoredMail;
    try {
      mail = JSON.parse(readFileSync(join(dir, name), "utf8")) as StoredMail;
    } catch {
      continue;
    }
    const times = mail.messageId ? received.get(mail.messageId) : undefined;
    times?.push(Number.parseInt(name, 10));
  }
  const all = [...received.entries()];
  const missing = all.filter(([, t]) => t.length === 0);
  const again = all.filter(([, t]) => t.length > 1);
  const explained = again.filter(([, t]) => {
    const firstAt = Math.min(...t);
    return crashes.some((c) => c >= firstAt - 1000 && c <= firstAt + 5000);
  });
  const unexplained = again.filter((x) => !explained.includes(x));
  const extra = (list: typeof again) => list.reduce((n, [, t]) => n + t.length - 1, 0);
  return {
    sent: rows.length,
    received: all.reduce((n, [, t]) => n + t.length, 0),
    explained: extra(explained),
    checks: [
      {
        name: "every email reached the SMTP server (an inbox message per Message-ID)",
        ok: missing.length === 0,
        detail: `${rows.length} sent_emails rows; missing from the inbox ${missing.length}${first(missing.map(([id]) => id))}`,
        lost: missing.length,
      },
      {
        name: "no email delivered twice, except right after a crash in the send → commit window (same Message-ID)",
        ok: unexplained.length === 0,
        detail: `delivered again: ${extra(explained)} after a crash, ${extra(unexplained)} otherwise${first(unexplained.map(([id]) => id))}`,
        duplicated: extra(unexplained),
      },
    ],
  };
}

async function deadLetters(env: ChaosEnv): Promise<{ topics: number; total: number; samples: string[] }> {
  const admin = await env.tools.bus.admin();
  let topics: string[];
  try {
    topics = (await admin.listTopics()).filter((t) => t.startsWith(`${env.id}.`) && t.endsWith(".dlq"));
  } finally {
    await admin.close();
  }
  let total = 0;
  const samples: string[] = [];
  for (const topic of topics) {
    const records = await env.tools.bus.readAll(topic);
    total += records.length;
    for (const r of records.slice(0, 3)) {
      samples.push(`${topic}: ${r.headers["x-error-class"]} ${r.headers["x-error-message"]?.slice(0, 120)}`);
    }
  }
  return { topics: topics.length, total, samples };
}
