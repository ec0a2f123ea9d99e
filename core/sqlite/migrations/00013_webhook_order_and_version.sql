-- +goose Up
-- A version per webhook endpoint: updates are compare-and-set on it, so
-- edits from several replicas never overwrite each other unseen. (The
-- signing secrets in the secrets column are sealed by the gateway with the
-- master key from this release on; see sqlstore.ResealWebhookSecrets.)
ALTER TABLE webhook_endpoints ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- Ordered first attempts (core.Job.OrderKey): a job waits while an earlier
-- job of its order key is pending or running unattempted. attempted_at is
-- set when a job's work was first attempted. Existing jobs have no key.
ALTER TABLE jobs ADD COLUMN order_key TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN order_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN attempted_at TEXT;
CREATE INDEX jobs_order ON jobs (order_key, order_seq) WHERE attempted_at IS NULL AND order_key <> '';

-- +goose Down
DROP INDEX jobs_order;
ALTER TABLE jobs DROP COLUMN attempted_at;
ALTER TABLE jobs DROP COLUMN order_seq;
ALTER TABLE jobs DROP COLUMN order_key;
ALTER TABLE webhook_endpoints DROP COLUMN version;
