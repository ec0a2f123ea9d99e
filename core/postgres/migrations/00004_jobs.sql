-- +goose Up
-- Durable jobs (core.Job): enqueued in the business transaction that causes
-- them, claimed by workers (FOR UPDATE SKIP LOCKED, so replicas share the
-- work), retried at a persisted run_at. While a job runs, run_at is the end
-- of its lease, so one index finds both pending jobs that are due and
-- running jobs whose worker died. The payload is kept as text, byte for
-- byte.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    queue        TEXT NOT NULL,
    job_key      TEXT NOT NULL UNIQUE,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- Claiming: due jobs of a queue, oldest first.
CREATE INDEX jobs_claim ON jobs (queue, run_at, id) WHERE state IN ('pending', 'running');
-- Listing (dead deliveries of an endpoint, …).
CREATE INDEX jobs_list ON jobs (tenant_id, queue, state, created_at, id);

-- +goose Down
DROP TABLE jobs;
