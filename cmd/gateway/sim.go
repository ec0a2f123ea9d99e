package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/test/sim"
)

const simUsage = `Usage:
  gateway sim pay --instance NAME --account REF --amount 500 [--msisdn 254700000123]
                  [--url http://127.0.0.1:8080] [--config FILE]
      Deliver a real M-Pesa C2B confirmation to a running gateway, as
      Safaricom would, for instance NAME of the configuration (an M-Pesa
      instance whose allowed_cidrs admit this machine, e.g. 127.0.0.0/8).
`

func simCmd(ctx context.Context, args []string, e env) error {
	if len(args) == 0 || args[0] != "pay" {
		fmt.Fprint(e.stderr, simUsage)
		return errUsage
	}
	fs := newFlagSet("sim pay", e)
	configPath := commonFlags(fs, e)
	instance := fs.String("instance", "", "the M-Pesa instance to pay through (required)")
	account := fs.String("account", "", "the account reference the customer types (required)")
	amount := fs.String("amount", "", "the amount in major units, e.g. 500 (required)")
	msisdn := fs.String("msisdn", "254700000123", "the payer's number")
	url := fs.String("url", "http://127.0.0.1:8080", "the gateway's base URL")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *instance == "" || *account == "" || *amount == "" {
		fmt.Fprint(e.stderr, "gateway sim pay: --instance, --account and --amount are required\n\n"+simUsage)
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
	if inst == nil || inst.Adapter != "payments.mpesa" {
		return fmt.Errorf("no M-Pesa instance %q in the configuration", *instance)
	}
	shortCode, _ := inst.Settings["short_code"].(string)
	secretRef, _ := inst.Settings["callback_secret"].(string)
	secret, err := adapters.EnvFileSecrets(e.lookup)(secretRef)
	if err != nil {
		return fmt.Errorf("instance %s callback_secret: %w", *instance, err)
	}
	c, err := sim.NewC2BConfirmation(shortCode, *account, *amount, *msisdn, time.Now())
	if err != nil {
		return err
	}
	target := strings.TrimRight(*url, "/") + "/callbacks/" + *instance + "/c2b-confirmation/" + secret
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(c.JSON()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(e.stdout, "sent C2B confirmation %s (%s to %s); gateway answered %d %s\n", c.TransID, *amount, *account, resp.StatusCode, bytes.TrimSpace(body))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the gateway did not acknowledge (%d): Safaricom would retry", resp.StatusCode)
	}
	return nil
}
