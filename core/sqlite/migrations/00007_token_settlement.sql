-- +goose Up
-- Tokens from a vendor's cloud are pending until it answers, then issued
-- or failed: why one failed, and when it was settled.
ALTER TABLE tokens ADD COLUMN failure_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN settled_at TEXT;

-- +goose Down
ALTER TABLE tokens DROP COLUMN settled_at;
ALTER TABLE tokens DROP COLUMN failure_reason;
