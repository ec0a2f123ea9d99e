-- +goose Up
-- Provider callbacks that passed verification but could not be read: kept
-- with their raw body until an operator resolves them.
CREATE TABLE quarantine (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    instance        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    request_id      TEXT NOT NULL DEFAULT '',
    provider_ref    TEXT NOT NULL DEFAULT '',
    provider_tx_id  TEXT NOT NULL DEFAULT '',
    method          TEXT NOT NULL,
    remote_addr     TEXT NOT NULL DEFAULT '',
    headers         JSONB NOT NULL,
    body            BYTEA,
    status          TEXT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    resolved_at     TIMESTAMPTZ
);
CREATE INDEX quarantine_page ON quarantine (tenant_id, received_at, id);

-- +goose Down
DROP TABLE quarantine;
