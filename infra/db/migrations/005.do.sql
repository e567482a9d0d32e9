-- Vacuum the money path's hot tables by row count, not by a fraction of their size.
-- Every published outbox row leaves a dead entry in the partial index outbox_pending until a vacuum, and the
-- relay's poll (published_at IS NULL AND failed_at IS NULL ORDER BY id) walks them: measured at 81 528 index
-- entries read to find 26 pending rows after 90 000 events (docs/benchmarks.md). Each transfer also leaves a dead
-- version of two wallet rows and of its idempotency key row. The default (20 % of the table) lets a large table
-- accumulate millions of them. These settings only apply where autovacuum runs.
ALTER TABLE outbox SET (
  autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
  autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 10000
);
ALTER TABLE wallets SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);
ALTER TABLE idempotency_keys SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 10000);
