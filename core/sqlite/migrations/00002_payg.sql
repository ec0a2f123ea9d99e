-- +goose Up
-- The lease and token engine (core/payg). Every business row carries its
-- tenant. Ledger lines and events are append-only.
CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    external_id TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    phone       TEXT NOT NULL,
    phone_hash  TEXT NOT NULL,
    language    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX customers_external_id ON customers (tenant_id, external_id) WHERE external_id <> '';
CREATE INDEX customers_phone_hash ON customers (tenant_id, phone_hash);
CREATE INDEX customers_page ON customers (tenant_id, created_at, id);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    external_id   TEXT NOT NULL DEFAULT '',
    serial        TEXT NOT NULL,
    scheme        TEXT NOT NULL,
    sealed_key    BLOB,
    starting_code INTEGER NOT NULL DEFAULT 0,
    value_divider INTEGER NOT NULL DEFAULT 0,
    restricted    INTEGER NOT NULL DEFAULT 0,
    counter       INTEGER NOT NULL DEFAULT 0,
    token_carry   INTEGER NOT NULL DEFAULT 0,
    unlocked      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX devices_serial ON devices (tenant_id, serial);
CREATE UNIQUE INDEX devices_external_id ON devices (tenant_id, external_id) WHERE external_id <> '';
CREATE INDEX devices_page ON devices (tenant_id, created_at, id);

CREATE TABLE plans (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    external_id TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    plan        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX plans_external_id ON plans (tenant_id, external_id) WHERE external_id <> '';
CREATE INDEX plans_page ON plans (tenant_id, created_at, id);

CREATE TABLE contracts (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    external_id    TEXT NOT NULL DEFAULT '',
    account_number TEXT NOT NULL,
    customer_id    TEXT NOT NULL REFERENCES customers(id),
    plan_id        TEXT REFERENCES plans(id),
    plan           TEXT NOT NULL,
    state          TEXT NOT NULL,
    status         TEXT NOT NULL,
    announced_status TEXT NOT NULL DEFAULT '',
    paid_through   TEXT,
    currency       TEXT NOT NULL,
    version        INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX contracts_account ON contracts (tenant_id, account_number);
CREATE UNIQUE INDEX contracts_external_id ON contracts (tenant_id, external_id) WHERE external_id <> '';
CREATE INDEX contracts_customer ON contracts (customer_id);
CREATE INDEX contracts_arrears ON contracts (tenant_id, status, paid_through);
CREATE INDEX contracts_page ON contracts (tenant_id, created_at, id);
CREATE INDEX contracts_updated ON contracts (tenant_id, updated_at, id);

CREATE TABLE contract_devices (
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    device_id   TEXT NOT NULL REFERENCES devices(id),
    PRIMARY KEY (contract_id, device_id)
) STRICT;
CREATE INDEX contract_devices_device ON contract_devices (device_id);

CREATE TABLE payments (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    instance          TEXT NOT NULL,
    provider_tx_id    TEXT NOT NULL,
    request_id        TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    amount            INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    account_ref       TEXT NOT NULL DEFAULT '',
    payer_msisdn      TEXT NOT NULL DEFAULT '',
    payer_msisdn_hash TEXT NOT NULL DEFAULT '',
    payer_name        TEXT NOT NULL DEFAULT '',
    contract_id       TEXT REFERENCES contracts(id),
    occurred_at       TEXT,
    received_at       TEXT NOT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    raw               BLOB
) STRICT;
CREATE UNIQUE INDEX payments_dedupe ON payments (instance, provider_tx_id);
CREATE INDEX payments_contract ON payments (contract_id);
CREATE INDEX payments_page ON payments (tenant_id, received_at, id);

CREATE TABLE ledger_lines (
    contract_id TEXT NOT NULL REFERENCES contracts(id),
    seq         INTEGER NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    payment_id  TEXT REFERENCES payments(id),
    kind        TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    at          TEXT NOT NULL,
    line        TEXT NOT NULL,
    PRIMARY KEY (contract_id, seq)
) STRICT;

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    device_id   TEXT NOT NULL REFERENCES devices(id),
    contract_id TEXT REFERENCES contracts(id),
    payment_id  TEXT REFERENCES payments(id),
    scheme      TEXT NOT NULL,
    type        TEXT NOT NULL,
    value       INTEGER NOT NULL,
    seconds     INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    code        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;
-- A device's counter is never reused, whatever the concurrency.
CREATE UNIQUE INDEX tokens_device_count ON tokens (device_id, count);
CREATE INDEX tokens_contract ON tokens (contract_id);

CREATE TABLE suspense_items (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    payment_id  TEXT NOT NULL UNIQUE REFERENCES payments(id),
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    status      TEXT NOT NULL,
    contract_id TEXT REFERENCES contracts(id),
    created_at  TEXT NOT NULL,
    resolved_at TEXT
) STRICT;
CREATE INDEX suspense_items_page ON suspense_items (tenant_id, created_at, id);

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    type        TEXT NOT NULL,
    contract_id TEXT REFERENCES contracts(id),
    seq         INTEGER NOT NULL,
    data        TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX events_contract_seq ON events (contract_id, seq) WHERE contract_id IS NOT NULL;
CREATE INDEX events_page ON events (tenant_id, created_at, id);

-- +goose Down
DROP TABLE events;
DROP TABLE suspense_items;
DROP TABLE tokens;
DROP TABLE ledger_lines;
DROP TABLE payments;
DROP TABLE contract_devices;
DROP TABLE contracts;
DROP TABLE plans;
DROP TABLE devices;
DROP TABLE customers;
