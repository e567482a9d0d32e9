-- Processor runtime: per-key ordering across the retry chain.
-- A hold says "a record of this key is in the group's retry chain"; while it exists, later records of the key
-- are parked here and applied after it, in order. Both tables are touched under the hold row's lock, so a
-- record is never parked behind a hold that is being released.
CREATE TABLE key_holds (
  consumer_group text NOT NULL,
  topic          text NOT NULL,
  record_key     text NOT NULL,
  -- The record at the head of the chain: "<partition>:<offset>" of its original topic.
  held_by        text NOT NULL,
  held_since     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, record_key)
);

CREATE TABLE parked_records (
  id             bigserial PRIMARY KEY,
  consumer_group text NOT NULL,
  topic          text NOT NULL,
  record_key     text NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset   bigint NOT NULL,
  kafka_timestamp bigint NOT NULL,
  value          bytea,
  headers        jsonb NOT NULL DEFAULT '{}'::jsonb,
  parked_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT parked_records_once UNIQUE (consumer_group, topic, kafka_partition, kafka_offset)
);
CREATE INDEX parked_records_key ON parked_records (consumer_group, topic, record_key, id);

-- What operators did with dead letters (Kafka topics are append-only: the record stays, its status lives here).
CREATE TABLE dead_letter_actions (
  dlq_topic       text NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset    bigint NOT NULL,
  action          text NOT NULL CHECK (action IN ('redriven', 'purged')),
  target          text,
  acted_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dlq_topic, kafka_partition, kafka_offset)
);
