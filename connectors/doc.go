// Package connectors will hold the CRM-facing side of the gateway: signed
// outbound webhooks and CSV migration from a legacy CRM, each in its own
// subpackage.
package connectors
