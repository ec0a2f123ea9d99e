-- +goose Up
-- Times are stored as UTC RFC 3339 text with a fixed six-digit fraction, so
-- they sort as text and read well in the sqlite3 shell.
CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    default_country TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;

INSERT INTO tenants (id, name, time_zone, default_country, created_at, updated_at)
VALUES ('default', 'Default', 'UTC', '',
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- +goose Down
DROP TABLE tenants;
