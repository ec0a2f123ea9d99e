package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
)

const mpesaUsage = `Usage:
  gateway mpesa register-urls --instance NAME [--config FILE]
      Register the instance's C2B confirmation and validation URLs with
      Safaricom (its callback_base_url and callback_secret). In production
      this is done once: changing registered URLs needs deleting them in
      the Daraja portal first.
`

func mpesaCmd(ctx context.Context, args []string, e env) error {
	if len(args) == 0 || args[0] != "register-urls" {
		fmt.Fprint(e.stderr, mpesaUsage)
		return errUsage
	}
	fs := newFlagSet("mpesa register-urls", e)
	configPath := commonFlags(fs, e)
	instance := fs.String("instance", "", "the M-Pesa instance whose URLs to register (required)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *instance == "" {
		fmt.Fprint(e.stderr, "gateway mpesa register-urls: --instance is required\n\n"+mpesaUsage)
		return errUsage
	}
	cfg, err := config.Load(*configPath, e.lookup)
	if err != nil {
		return err
	}
	var inst *config.Instance
	for i := range cfg.Instances {
		if cfg.Instances[i].Name == *instance {
			inst = &cfg.Instances[i]
		}
	}
	if inst == nil {
		return fmt.Errorf("no instance %q in the configuration", *instance)
	}
	deps := adapters.Deps{Secrets: adapters.EnvFileSecrets(e.lookup), Clock: core.SystemClock{}}.WithDefaults()
	a, err := adapters.Provision(ctx, adapters.InstanceConfig{Name: inst.Name, Adapter: inst.Adapter, Tenant: inst.Tenant,
		Currency: core.Currency(inst.Currency), Settings: inst.Settings}, deps)
	if err != nil {
		return fmt.Errorf("instance %s: %w", inst.Name, err)
	}
	r, ok := a.(adapters.URLRegistrar)
	if !ok {
		return fmt.Errorf("instance %s (%s) does not register URLs", inst.Name, inst.Adapter)
	}
	reg, err := r.RegisterURLs(ctx)
	if err != nil {
		var pe *adapters.ProviderError
		if errors.As(err, &pe) && pe.Code == "500.003.1001" {
			return fmt.Errorf("%w (delete the registered URLs in the Daraja portal first)", err)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "registered the URLs of instance %s: %s (ref %s)\n", inst.Name, reg.Message, reg.ProviderRef)
	purposes := make([]string, 0, len(reg.URLs))
	for p := range reg.URLs {
		purposes = append(purposes, p)
	}
	sort.Strings(purposes)
	for _, p := range purposes {
		fmt.Fprintf(e.stdout, "  %-12s %s\n", p, maskSecret(reg.URLs[p]))
	}
	return nil
}

// maskSecret hides a callback URL's last path segment (its secret).
func maskSecret(u string) string {
	i := strings.LastIndex(u, "/")
	if i < 0 || i == len(u)-1 {
		return u
	}
	return u[:i+1] + "…"
}
