package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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
  gateway sim serve-daraja [--listen 127.0.0.1:9101] [--consumer-key K] [--consumer-secret S]
                  [--passkey P] [--callback-delay 3s] [--result-code 0]
      Run a fake Safaricom Daraja API: OAuth, STK push (then the STK
      callback to the CallBackURL), STK query and C2B URL registration.
      Point an M-Pesa instance's base_url at it.
  gateway sim serve-momo [--listen 127.0.0.1:9102] [--api-user UUID] [--api-key K]
                  [--subscription-key K] [--callback-delay 3s] [--status SUCCESSFUL]
                  [--reason R] [--callback-method PUT]
      Run a fake MTN MoMo collection API: token, request-to-pay, GET status,
      then the callback to the X-Callback-Url. Point an MTN instance's
      base_url at it.
`

func simCmd(ctx context.Context, args []string, e env) error {
	if len(args) > 0 {
		switch args[0] {
		case "serve-daraja":
			return simServeDaraja(ctx, args[1:], e)
		case "serve-momo":
			return simServeMoMo(ctx, args[1:], e)
		}
	}
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

// serveSim serves h on listen until ctx ends.
func serveSim(ctx context.Context, name, listen string, h http.Handler, e env) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stdout, "%s listening on http://%s (Ctrl-C to stop)\n", name, ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func simServeDaraja(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("sim serve-daraja", e)
	listen := fs.String("listen", "127.0.0.1:9101", "listen `address`")
	key := fs.String("consumer-key", "sim-consumer-key", "the app's consumer key")
	secret := fs.String("consumer-secret", "sim-consumer-secret", "the app's consumer secret")
	passkey := fs.String("passkey", "sim-stk-passkey", "the STK passkey")
	delay := fs.Duration("callback-delay", 3*time.Second, "how long the payer takes to answer an STK push")
	code := fs.Int("result-code", 0, "the ResultCode of every STK push (0 success, 1032 cancelled, 1 insufficient funds, -1 no answer)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	desc := map[int]string{0: "The service request is processed successfully.", 1032: "Request cancelled by user",
		1: "The balance is insufficient for the transaction.", 1037: "DS timeout user cannot be reached"}[*code]
	if desc == "" {
		desc = "Result " + strconv.Itoa(*code)
	}
	d := sim.NewDaraja(sim.DarajaOptions{ConsumerKey: *key, ConsumerSecret: *secret, Passkey: *passkey, CallbackDelay: *delay,
		STKResult: func(sim.STKPush) (int, string) { return *code, desc }})
	defer d.Close()
	return serveSim(ctx, "fake Daraja", *listen, d.Handler(), e)
}

func simServeMoMo(ctx context.Context, args []string, e env) error {
	fs := newFlagSet("sim serve-momo", e)
	listen := fs.String("listen", "127.0.0.1:9102", "listen `address`")
	user := fs.String("api-user", "6f1c5d0e-2b7a-4c3d-9e8f-0a1b2c3d4e5f", "the API user (a UUID)")
	key := fs.String("api-key", "sim-momo-api-key", "the API key")
	sub := fs.String("subscription-key", "sim-momo-subscription-key", "the collection subscription key")
	target := fs.String("target-environment", "sandbox", "the X-Target-Environment to expect")
	delay := fs.Duration("callback-delay", 3*time.Second, "how long the payer takes to approve")
	status := fs.String("status", "SUCCESSFUL", "the outcome of every request: SUCCESSFUL, FAILED, or empty to stay PENDING")
	reason := fs.String("reason", "NOT_ENOUGH_FUNDS", "the reason of a FAILED outcome")
	method := fs.String("callback-method", http.MethodPut, "PUT or POST")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m := sim.NewMoMo(sim.MoMoOptions{APIUser: *user, APIKey: *key, SubscriptionKey: *sub, TargetEnvironment: *target,
		CallbackDelay: *delay, CallbackMethod: *method,
		Result: func(sim.RequestToPay) (string, string) { return *status, *reason }})
	defer m.Close()
	return serveSim(ctx, "fake MTN MoMo", *listen, m.Handler(), e)
}
