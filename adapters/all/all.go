// Package all selects the adapters built into the gateway. Each line is a
// blank import whose init registers one adapter; import this package once,
// from cmd/gateway. To add an adapter, add its line here.
package all

import (
	_ "github.com/payg-gateway/gateway/adapters/africastalking"
	_ "github.com/payg-gateway/gateway/adapters/mpesa"
	_ "github.com/payg-gateway/gateway/adapters/mtnmomo"
	_ "github.com/payg-gateway/gateway/adapters/twilio"
)
