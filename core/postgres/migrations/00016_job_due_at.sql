-- +goose Up
-- When a job became due (core.Job.DueAt): its run_at as enqueued or as set
-- by a retry that spent an attempt. A retry without an attempt (an open
-- circuit breaker, a rate limit) moves run_at but not due_at, so a job
-- turned away keeps its place: claims take the longest-due first. Done and
-- dead jobs are not claimed again and keep a NULL due_at.
ALTER TABLE jobs ADD COLUMN due_at TIMESTAMPTZ;
UPDATE jobs SET due_at = run_at WHERE state IN ('pending', 'running');
-- Claiming: due jobs of a queue, longest-due first; run_at is in the index
-- so jobs waiting past their due time are passed over without reading rows.
CREATE INDEX jobs_due ON jobs (queue, due_at, id, run_at) WHERE state IN ('pending', 'running');
DROP INDEX jobs_claim;

-- +goose Down
CREATE INDEX jobs_claim ON jobs (queue, run_at, id) WHERE state IN ('pending', 'running');
DROP INDEX jobs_due;
ALTER TABLE jobs DROP COLUMN due_at;
