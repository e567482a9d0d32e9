/**
 * PostgreSQL advisory lock keys, all in one place so two uses can never pick the same number.
 * Session locks (migrations, relay leadership) are held by one connection; the audit lock is per transaction.
 */
export const ADVISORY_LOCKS = Object.freeze({
  /** Serializes migrations of concurrent start-ups (infra/db/migrate.ts). */
  migrations: 7_273_411,
  /** The outbox relay leader (producers/relay.ts). */
  relayLeader: 7_273_412,
  /** Appends to the audit hash chain one at a time (processors/audit.ts). */
  auditChain: 7_273_413,
});
