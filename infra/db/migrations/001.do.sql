-- walletstream: users (auth service), wallets (wallet service), the transactional outbox, and the
-- consumer-side dedupe records. Money is bigint minor units, never floating point.

CREATE TABLE users (
  id            uuid PRIMARY KEY,
  email         text NOT NULL,
  display_name  text NOT NULL,
  password_hash text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_normalized CHECK (email = lower(btrim(email)))
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- One wallet per user. No foreign key to users: the wallet service owns this table and learns about users
-- from user_registered events only (it could live in its own database).
CREATE TABLE wallets (
  id         uuid PRIMARY KEY,
  user_id    uuid NOT NULL,
  currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  balance    bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT wallets_user_key UNIQUE (user_id)
);

-- Transactional outbox: rows are written in the same transaction as the state change they announce and
-- published by the relay (producers/relay.ts) in id order. Invariant kept by writers: the rows of one key
-- are inserted while that aggregate is locked (or is new), so id order is commit order per key.
CREATE TABLE outbox (
  id             bigserial PRIMARY KEY,
  event_id       uuid NOT NULL UNIQUE,
  event_type     text NOT NULL,
  message_key    text NOT NULL,
  payload        jsonb NOT NULL,
  headers        jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  published_at   timestamptz,
  -- Set when the row can never be published (payload does not match its schema): a bug to look at.
  failed_at      timestamptz,
  last_error     text
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wake the relay as soon as rows commit (NOTIFY is delivered at commit), instead of a slow poll.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Exactly-once effects on at-least-once delivery: a consumer group applies an event id once. The row
-- commits in the same transaction as the handler's effects; the Kafka offset is committed after.
CREATE TABLE processed_events (
  consumer_group text NOT NULL,
  event_id       uuid NOT NULL,
  topic          text NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset   bigint NOT NULL,
  processed_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, event_id)
);
