// Package resilience holds the gateway's storm, crash, outage and replica
// tests (issue 9, "Storms and crashes"; issue 8 acceptance 3; issue 6
// acceptance 4). They build the gateway binary once, run `gateway serve`
// as subprocesses on a seeded store, fire M-Pesa C2B confirmations at them
// over HTTP as a telco would (re-sending whatever did not get a 2xx), kill
// them with SIGKILL, cut their database connection, run three of them on
// one PostgreSQL schema, and then check through the store, the API, a
// fake CRM and a fake SMS provider that every payment was applied once,
// every token issued once, every event delivered and (in the crash test)
// every payment's confirmation sent once.
//
// Everything is in the package's tests; this file only names the package.
// Sizes are small by default so that `make test` stays fast; environment
// variables scale them up for manual runs:
//
//	RESIL_PAYMENTS        payments per test (default 150)
//	RESIL_WEBHOOK_EVENTS  events in flight when the webhook test kills the gateway (default 1000)
//	RESIL_OUTAGE          how long the store outage lasts (default 10s)
//
// PostgreSQL tests need GATEWAY_TEST_POSTGRES_DSN; under CI=true a missing
// DSN fails them instead of skipping.
package resilience
