-- +goose Up
-- CRM webhook endpoints (core.WebhookEndpoint). event_types and secrets are
-- JSON arrays. Secrets are stored as given, not encrypted at rest (yet).
CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants (id),
    url                   TEXT NOT NULL,
    event_types           JSONB NOT NULL,
    enabled               BOOLEAN NOT NULL,
    disabled_reason       TEXT NOT NULL DEFAULT '',
    rate_limit_per_second INTEGER NOT NULL DEFAULT 0,
    secrets               TEXT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_page ON webhook_endpoints (tenant_id, created_at, id);

-- Every HTTP attempt of every delivery (a delivery is a job of queue
-- "webhook"), kept after the delivery is done or dead.
CREATE TABLE webhook_attempts (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    job_id      TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    status_code INTEGER NOT NULL,
    latency_ms  BIGINT NOT NULL,
    error       TEXT NOT NULL DEFAULT '',
    response    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_page ON webhook_attempts (tenant_id, at, id);
CREATE INDEX webhook_attempts_job ON webhook_attempts (job_id);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_endpoints;
