-- Transactions service: an immutable double-entry ledger, wallet balances kept in the same transaction,
-- and idempotency keys. Amounts are bigint minor units.

-- Counterparty accounts of money entering or leaving walletstream (deposits, withdrawals), one per currency.
-- Their balance is derived from their entries (no stored balance: it would be a hot row for every deposit).
CREATE TABLE system_accounts (
  id       uuid PRIMARY KEY,
  code     text NOT NULL,
  currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  CONSTRAINT system_accounts_code_currency UNIQUE (code, currency)
);

CREATE TABLE transactions (
  id              uuid PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'transfer')),
  initiated_by    uuid NOT NULL,
  from_wallet_id  uuid REFERENCES wallets (id),
  to_wallet_id    uuid REFERENCES wallets (id),
  amount          bigint NOT NULL CHECK (amount > 0),
  currency        char(3) NOT NULL,
  reference       text,
  idempotency_key text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (
    (kind = 'deposit' AND from_wallet_id IS NULL AND to_wallet_id IS NOT NULL) OR
    (kind = 'withdrawal' AND from_wallet_id IS NOT NULL AND to_wallet_id IS NULL) OR
    (kind = 'transfer' AND from_wallet_id IS NOT NULL AND to_wallet_id IS NOT NULL AND from_wallet_id <> to_wallet_id)
  )
);
CREATE INDEX transactions_from_wallet ON transactions (from_wallet_id);
CREATE INDEX transactions_to_wallet ON transactions (to_wallet_id);

-- Signed amounts: positive credits the account, negative debits it. The entries of a transaction sum to zero.
CREATE TABLE ledger_entries (
  id                bigserial PRIMARY KEY,
  transaction_id    uuid NOT NULL REFERENCES transactions (id),
  wallet_id         uuid REFERENCES wallets (id),
  system_account_id uuid REFERENCES system_accounts (id),
  amount            bigint NOT NULL CHECK (amount <> 0),
  currency          char(3) NOT NULL,
  -- The wallet's balance right after this entry (null for system accounts).
  balance_after     bigint CHECK (balance_after >= 0),
  created_at        timestamptz NOT NULL DEFAULT now(),
  CHECK ((wallet_id IS NULL) <> (system_account_id IS NULL)),
  CHECK (wallet_id IS NULL OR balance_after IS NOT NULL)
);
CREATE INDEX ledger_entries_wallet ON ledger_entries (wallet_id, id DESC) WHERE wallet_id IS NOT NULL;
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);

-- The ledger is append-only: corrections are new transactions.
CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER transactions_immutable BEFORE UPDATE OR DELETE ON transactions
  FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Idempotency keys, per user. The row is inserted first, in the same transaction as the movement, so a
-- concurrent duplicate waits on the unique key and then reads the stored response; a rejected request rolls
-- back and leaves no key behind (a retry is evaluated again). status/response are filled before commit.
CREATE TABLE idempotency_keys (
  user_id       uuid NOT NULL,
  key           text NOT NULL,
  request_hash  text NOT NULL,
  status        integer,
  -- json, not jsonb: a replay answers byte for byte what the first request answered (jsonb reorders keys).
  response      json,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
