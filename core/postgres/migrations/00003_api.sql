-- +goose Up
-- API keys: only the SHA-256 of a key is kept (see core.HashAPIKey), with a
-- short display prefix.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    prefix       TEXT NOT NULL,
    hash         BYTEA NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

-- The list order of the API: (created_at, id) within a tenant.
CREATE INDEX api_keys_tenant_order ON api_keys (tenant_id, created_at, id);

-- Idempotency-Key records of POST requests, per tenant (core.IdempotencyService).
CREATE TABLE idempotency_keys (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    idem_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
    created_at  TIMESTAMPTZ NOT NULL,
    locked_at   TIMESTAMPTZ NOT NULL,
    status      INTEGER,
    headers     JSONB,  -- the replayed headers
    body        BYTEA,
    PRIMARY KEY (tenant_id, idem_key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE api_keys;
