-- The non-critical services fed by events: in-app notifications, outgoing email and the audit log.
-- Each is written inside the processor runner's transaction, together with its dedupe row (processed_events).

-- Notifications service: one in-app notification per event and user. The unique key makes a replay (even
-- one that lost its processed_events row) a no-op instead of a second notification.
CREATE TABLE notifications (
  seq        bigserial NOT NULL UNIQUE,
  id         uuid PRIMARY KEY,
  event_id   uuid NOT NULL,
  user_id    uuid NOT NULL,
  kind       text NOT NULL,
  title      text NOT NULL,
  body       text NOT NULL,
  data       jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- When the event happened, not when it was processed: the list is in the order things happened.
  created_at timestamptz NOT NULL,
  read_at    timestamptz,
  CONSTRAINT notifications_event_user UNIQUE (event_id, user_id)
);
-- The list (newest first, keyset on created_at, seq) and the unread count.
CREATE INDEX notifications_user_recent ON notifications (user_id, created_at DESC, seq DESC);
CREATE INDEX notifications_user_unread ON notifications (user_id) WHERE read_at IS NULL;

-- Email service: one row per email. Inserted before the SMTP send, in the runner's transaction: a second
-- delivery of the event waits on the unique key, then finds the row and sends nothing. message_id is
-- derived from the event id, so a resend after a crash between send and commit carries the same Message-ID.
CREATE TABLE sent_emails (
  event_id   uuid NOT NULL,
  recipient  text NOT NULL,
  kind       text NOT NULL,
  message_id text NOT NULL,
  sent_at    timestamptz NOT NULL,
  PRIMARY KEY (event_id, recipient)
);

-- Audit service: an append-only, hash-chained log of every event. hash = sha256(prev_hash || canonical
-- content) (processors/audit-hash.ts); rows are chained in seq order, written under one advisory lock so the
-- chain never forks. `npm run audit:verify` recomputes it.
CREATE TABLE audit_log (
  seq            bigserial PRIMARY KEY,
  event_id       uuid NOT NULL UNIQUE,
  event_type     text NOT NULL,
  actor          uuid,
  wallet_id      uuid,
  transaction_id uuid,
  amount         bigint,
  currency       char(3),
  occurred_at    timestamptz NOT NULL,
  payload        jsonb NOT NULL,
  -- Unique: two rows chained to the same predecessor would be a fork; the database refuses it.
  prev_hash      char(64) NOT NULL UNIQUE,
  hash           char(64) NOT NULL UNIQUE,
  recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_wallet ON audit_log (wallet_id, seq) WHERE wallet_id IS NOT NULL;

-- Append-only like the ledger (same function, 002.do.sql); TRUNCATE is refused too.
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();
