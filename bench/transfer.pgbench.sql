-- One REST transfer (POST /v1/transfers) as raw SQL: the statements api/money/idempotency.ts (once) and
-- api/money/transfer.ts (transfer, with helpers of ledger.ts) and producers/outbox.ts (enqueue) send, in the
-- same order, in one transaction, one round trip each.
-- Run by bench/transfers.ts: pgbench -n -M prepared -D nwallets=<N> -f bench/transfer.pgbench.sql <bench db>
-- bench_wallets (n, user_id, wallet_id) maps 1..N to the benchmark's users; the API knows the sender's user id
-- from the JWT and the recipient's wallet id from the body, pgbench looks them up by number inside the
-- statements that need them (a primary-key probe of a 200-row table, no extra round trip).
-- Differences that remain: ids, hashes and JSON are built by PostgreSQL here, by Node in the API.
-- (No colon may appear inside a literal: pgbench would take :name for a variable.)
\set s random(1, :nwallets)
\set r 1 + (:s + random(0, :nwallets - 2)) % :nwallets
\set amt 1
\set neg -1
BEGIN;
-- once(): the idempotency key row first
INSERT INTO idempotency_keys (user_id, key, request_hash)
  VALUES ((SELECT user_id FROM bench_wallets WHERE n = :s), gen_random_uuid()::text,
          encode(sha256(gen_random_uuid()::text::bytea), 'hex'))
  ON CONFLICT DO NOTHING RETURNING user_id AS uid, key AS ikey \gset
-- transfer(): own wallet, recipient, both locked in id order
SELECT id AS from_id FROM wallets WHERE user_id = :uid \gset
SELECT id AS to_id, user_id AS to_uid FROM wallets
  WHERE id = (SELECT wallet_id FROM bench_wallets WHERE n = :r) \gset
SELECT id, user_id, currency, balance FROM wallets
  WHERE id = ANY(ARRAY[:from_id, :to_id]::uuid[]) ORDER BY id FOR UPDATE;
INSERT INTO transactions (id, kind, initiated_by, from_wallet_id, to_wallet_id, amount, currency, reference, idempotency_key)
  VALUES (gen_random_uuid(), 'transfer', :uid, :from_id, :to_id, :amt, 'USD', NULL, :ikey)
  RETURNING id AS tx_id, (extract(epoch FROM created_at) * 1000)::bigint AS at_ms,
            created_at::text AS at_iso \gset
UPDATE wallets SET balance = balance + :neg WHERE id = :from_id RETURNING balance AS from_after \gset
UPDATE wallets SET balance = balance + :amt WHERE id = :to_id RETURNING balance AS to_after \gset
INSERT INTO ledger_entries (transaction_id, wallet_id, system_account_id, amount, currency, balance_after)
  VALUES (:tx_id, :from_id, NULL, :neg, 'USD', :from_after), (:tx_id, :to_id, NULL, :amt, 'USD', :to_after);
-- enqueue(): transfer_sent and transfer_received, payloads as the relay expects them (valid Avro)
INSERT INTO outbox (event_id, event_type, message_key, payload, headers)
  SELECT e.id, e.type, e.wallet::text,
         jsonb_build_object('eventId', e.id, 'occurredAt', :at_ms::bigint, 'transactionId', :tx_id::uuid,
           'amount', :amt::bigint, 'currency', 'USD', 'idempotencyKey', :ikey::text, 'description', NULL,
           'walletId', e.wallet, 'userId', e.usr, 'balanceAfter', e.after,
           'counterpartyWalletId', e.cp_wallet, 'counterpartyUserId', e.cp_usr),
         jsonb_build_object('correlation-id', gen_random_uuid())
    FROM (VALUES
      (gen_random_uuid(), 'transfer_sent', :from_id::uuid, :uid::uuid, :from_after::bigint, :to_id::uuid, :to_uid::uuid),
      (gen_random_uuid(), 'transfer_received', :to_id::uuid, :to_uid::uuid, :to_after::bigint, :from_id::uuid, :uid::uuid)
    ) AS e (id, type, wallet, usr, after, cp_wallet, cp_usr);
-- once(): store the response (a json column: the API sends JSON text)
UPDATE idempotency_keys SET status = 201,
    response = json_build_object('id', :tx_id::uuid, 'fromWalletId', :from_id::uuid, 'toWalletId', :to_id::uuid,
      'amount', :amt::bigint, 'currency', 'USD', 'status', 'completed', 'balanceAfter', :from_after::bigint,
      'description', NULL, 'createdAt', :at_iso::text)
  WHERE user_id = :uid AND key = :ikey;
COMMIT;
