-- One REST transfer (POST /v1/transfers) as raw SQL: the statements api/money/idempotency.ts (once) and
-- api/money/transfer.ts (transfer, writing through writeMovement of ledger.ts, with outboxInsert of
-- producers/outbox.ts and responseUpdate of idempotency.ts) send, in the same order, in one transaction, one
-- round trip each: BEGIN, the key, the lock, the write, COMMIT.
-- Run by bench/transfers.ts: pgbench -n -M prepared -D nwallets=<N> -f bench/transfer.pgbench.sql <bench db>
-- bench_wallets (n, user_id, wallet_id) maps 1..N to the benchmark's users. The API knows the sender's user id
-- from the JWT and the recipient's wallet id from the body, and generates uuids in Node; pgbench looks the ids
-- up by number and draws the uuids inside the key's INSERT (primary-key probes of a 200-row table, no extra
-- round trip). pgbench cannot keep the two locked rows of a multi-row result, so its lock reads them through
-- an aggregate over the same locking SELECT; the balances after are computed by pgbench as the API computes
-- them in Node. Differences that remain: the hash and the JSON documents are built by PostgreSQL here, by Node
-- in the API. (No colon may appear inside a literal: pgbench would take :name for a variable.)
\set s random(1, :nwallets)
\set r 1 + (:s + random(0, :nwallets - 2)) % :nwallets
\set amt 1
BEGIN;
-- once(): the idempotency key row first
INSERT INTO idempotency_keys (user_id, key, request_hash)
  VALUES ((SELECT user_id FROM bench_wallets WHERE n = :s), gen_random_uuid()::text,
          encode(sha256(gen_random_uuid()::text::bytea), 'hex'))
  ON CONFLICT DO NOTHING
  RETURNING user_id AS uid, key AS ikey,
            (SELECT wallet_id FROM bench_wallets WHERE n = :s) AS from_id,
            (SELECT wallet_id FROM bench_wallets WHERE n = :r) AS to_id,
            gen_random_uuid() AS tx_id, gen_random_uuid() AS ev_sent, gen_random_uuid() AS ev_received \gset
-- transfer(): both wallets found and locked by one statement, in id order (LOCK_BY_WALLET_ID)
SELECT max(balance) FILTER (WHERE id = :from_id) AS from_bal, max(balance) FILTER (WHERE id = :to_id) AS to_bal,
       max(user_id::text) FILTER (WHERE id = :to_id) AS to_uid,
       (extract(epoch FROM now()) * 1000)::bigint AS at_ms, now()::text AS at_iso
  FROM (SELECT id, user_id, currency, balance FROM wallets
         WHERE user_id = :uid OR id = :to_id ORDER BY id FOR UPDATE) AS locked \gset
\set from_after :from_bal - :amt
\set to_after :to_bal + :amt
\set neg 0 - :amt
-- writeMovement(): transaction, balances, entries, outbox events, and the key's response, in one statement
WITH t AS (INSERT INTO transactions (id, kind, initiated_by, from_wallet_id, to_wallet_id, amount, currency, reference, idempotency_key)
       VALUES (:tx_id, 'transfer', :uid, :from_id, :to_id, :amt, 'USD', NULL, :ikey)),
  b AS (UPDATE wallets w SET balance = w.balance + d.delta
          FROM (VALUES (:from_id::uuid, :neg::bigint), (:to_id::uuid, :amt::bigint)) AS d (id, delta)
         WHERE w.id = d.id),
  e AS (INSERT INTO ledger_entries (transaction_id, wallet_id, system_account_id, amount, currency, balance_after)
       VALUES (:tx_id, :from_id, NULL, :neg, 'USD', :from_after), (:tx_id, :to_id, NULL, :amt, 'USD', :to_after)),
  o AS (INSERT INTO outbox (event_id, event_type, message_key, payload, headers)
       SELECT ev.id, ev.type, ev.wallet::text,
              jsonb_build_object('occurredAt', :at_ms::bigint, 'transactionId', :tx_id::uuid,
                'amount', :amt::bigint, 'currency', 'USD', 'idempotencyKey', :ikey::text, 'description', NULL,
                'eventId', ev.id, 'walletId', ev.wallet, 'userId', ev.usr, 'balanceAfter', ev.after,
                'counterpartyWalletId', ev.cp_wallet, 'counterpartyUserId', ev.cp_usr),
              jsonb_build_object('correlation-id', gen_random_uuid())
         FROM (VALUES
           (:ev_sent::uuid, 'transfer_sent', :from_id::uuid, :uid::uuid, :from_after::bigint, :to_id::uuid, :to_uid::uuid),
           (:ev_received::uuid, 'transfer_received', :to_id::uuid, :to_uid::uuid, :to_after::bigint, :from_id::uuid, :uid::uuid)
         ) AS ev (id, type, wallet, usr, after, cp_wallet, cp_usr))
UPDATE idempotency_keys SET status = 201,
    response = json_build_object('id', :tx_id::uuid, 'fromWalletId', :from_id::uuid, 'toWalletId', :to_id::uuid,
      'amount', :amt::bigint, 'currency', 'USD', 'status', 'completed', 'balanceAfter', :from_after::bigint,
      'description', NULL, 'createdAt', :at_iso::text)
  WHERE user_id = :uid AND key = :ikey;
COMMIT;
