-- +goose Up
-- A version per webhook endpoint: updates are compare-and-set on it, so
-- edits from several replicas never overwrite each other unseen. (The
-- signing secrets in the secrets column are sealed by the gateway with the
-- master key from this release on; see sqlstore.ResealWebhookSecrets.)
ALTER TABLE webhook_endpoints ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN version;
