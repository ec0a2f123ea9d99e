-- +goose Up
-- What a CRM webhook endpoint is, for people (the API's description).
ALTER TABLE webhook_endpoints ADD COLUMN description TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN description;
