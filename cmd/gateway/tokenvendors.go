package main

import (
	"fmt"
	"log/slog"

	"github.com/payg-gateway/gateway/adapters/tokenhttp"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/payg"
)

// newTokenVendors compiles the configured token vendors.
func newTokenVendors(cfg config.Config, clock core.Clock) ([]*tokenhttp.Vendor, error) {
	var out []*tokenhttp.Vendor
	for i, tv := range cfg.TokenVendors {
		v, err := tokenhttp.New(tv, tokenhttp.Options{Clock: clock})
		if err != nil {
			return nil, fmt.Errorf("config: token_vendors[%d].%w", i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// tokenEngines are the built-in token engines plus one per token vendor.
func tokenEngines(vendors []*tokenhttp.Vendor, builtin map[payg.TokenScheme]payg.TokenEngine) map[payg.TokenScheme]payg.TokenEngine {
	for _, v := range vendors {
		builtin[payg.TokenScheme(v.Name())] = v
	}
	return builtin
}

// registerTokenVendors makes r run each vendor's token requests, settling
// tokens through svc.
func registerTokenVendors(r *jobs.Runner, vendors []*tokenhttp.Vendor, svc *payg.Service, log *slog.Logger) {
	for _, v := range vendors {
		r.Register(v.Queue(), v.Handler(svc, log), v.RetryPolicy())
	}
}
