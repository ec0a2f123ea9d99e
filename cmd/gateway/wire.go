package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payg-gateway/gateway/adapters"
	_ "github.com/payg-gateway/gateway/adapters/all" // the adapters this binary carries
	"github.com/payg-gateway/gateway/adapters/nexus"
	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/connectors/webhook"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/callbacks"
	"github.com/payg-gateway/gateway/core/jobs"
	"github.com/payg-gateway/gateway/core/messaging"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// gatewayStore is what both stores are: the core store, the PAYG one, the
// job queue and the webhook endpoints, and what webhook replays read.
type gatewayStore interface {
	core.Store
	payg.Store
	core.JobQueue
	core.JobService
	core.WebhookStore
	core.WebhookSecretSealer
	webhook.EventSource
	messaging.Store
}

// newPAYG builds the lease and token engine over store, sealing with box.
func newPAYG(cfg config.Config, store gatewayStore, box *secretbox.Box, clock core.Clock, log *slog.Logger) (*payg.Service, error) {
	vendors, err := newTokenVendors(cfg, clock)
	if err != nil {
		return nil, err
	}
	msgs, err := newMessaging(cfg, store, clock, log)
	if err != nil {
		return nil, err
	}
	return payg.NewService(payg.Options{
		Store: store, Tenants: store, Clock: clock, Box: box, Logger: log,
		Subscribers: []payg.EventSubscriber{webhook.Subscriber{}, msgs},
		Engines: tokenEngines(vendors, map[payg.TokenScheme]payg.TokenEngine{
			payg.SchemeOpenPAYGO: openpaygo.Engine{},
			payg.SchemeNexus:     nexus.Engine{},
		}),
	}), nil
}

// openSecrets opens the master key (see openSecretBox) and makes store seal
// webhook signing secrets with it.
func openSecrets(cfg config.Config, store gatewayStore, log *slog.Logger) (*secretbox.Box, error) {
	box, err := openSecretBox(cfg, log)
	if err != nil {
		return nil, err
	}
	store.UseSecretBox(box)
	return box, nil
}

// sealWebhookSecrets seals the webhook signing secrets still in plain text
// (stored before sealing existed, or while the gateway had no master key)
// under box. Every start runs it; replicas starting together take turns on
// the rows' locks, and the later ones find nothing left to seal.
func sealWebhookSecrets(ctx context.Context, store gatewayStore, box *secretbox.Box, log *slog.Logger) error {
	if box == nil {
		log.Warn("no master key: webhook signing secrets are stored in plain text")
		return nil
	}
	n, err := store.ResealWebhookSecrets(ctx, box)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("sealed plain-text webhook signing secrets under the master key", "secrets", n, "master_key", box.KeyID())
	}
	return nil
}

// newCallbacks provisions the configured adapter instances and the host
// that runs their callbacks.
func newCallbacks(ctx context.Context, cfg config.Config, svc *payg.Service, clock core.Clock, log *slog.Logger, reg prometheus.Registerer, lookupEnv func(string) (string, bool)) (*callbacks.Host, error) {
	deps := adapters.Deps{Secrets: adapters.EnvFileSecrets(lookupEnv), Clock: clock, Logger: log}.WithDefaults()
	var instances []callbacks.Instance
	for i, in := range cfg.Instances {
		ic := adapters.InstanceConfig{Name: in.Name, Adapter: in.Adapter, Tenant: in.Tenant,
			Currency: core.Currency(in.Currency), Settings: in.Settings}
		a, err := adapters.Provision(ctx, ic, deps)
		if err != nil {
			return nil, fmt.Errorf("config: instances[%d]: %w", i, err)
		}
		checked, _ := ic.Check() // Provision has checked it
		instances = append(instances, callbacks.Instance{Config: checked, Adapter: a})
	}
	return callbacks.New(svc, instances, clock, log, reg)
}

// sweepStatuses announces time-driven status changes (late, defaulted)
// every interval until ctx ends.
func sweepStatuses(ctx context.Context, svc *payg.Service, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := svc.SweepStatuses(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("status sweep failed", "error", err)
		} else if n > 0 {
			log.Info("contract statuses changed with time", "announced", n)
		}
	}
}

// newJobs returns the runner of durable jobs: webhook deliveries, the
// token vendors' requests (settled through svc), and the initiation and
// status checks of payment requests and the sends of asynchronous
// provider requests (through host).
func newJobs(cfg config.Config, store gatewayStore, svc *payg.Service, host *callbacks.Host, clock core.Clock, log *slog.Logger, reg prometheus.Registerer) (*jobs.Runner, error) {
	vendors, err := newTokenVendors(cfg, clock)
	if err != nil {
		return nil, err
	}
	deliverer, err := webhook.NewDeliverer(webhook.DelivererOptions{
		Store: store, Clock: clock, Registerer: reg, Logger: log,
		Egress: webhookEgress(cfg),
	})
	if err != nil {
		return nil, err
	}
	r := jobs.New(jobs.Options{Queue: store, Clock: clock, Workers: cfg.Webhooks.Workers, Lease: cfg.Webhooks.Lease, Logger: log})
	r.Register(webhook.Queue, deliverer, webhook.DefaultSchedule)
	registerTokenVendors(r, vendors, svc, log)
	r.Register(payg.RequestQueue, host.RequestHandler(), nil)
	r.Register(payg.QuarantineQueue, host.QuarantineHandler(), callbacks.QuarantineRetryPolicy)
	r.Register(payg.AsyncQueue, host.AsyncHandler(), callbacks.AsyncRetryPolicy)
	return r, nil
}

// newMessaging builds the service that creates the customers' text
// messages (an event subscriber, reminders, campaigns) from cfg.SMS. It
// holds no state, so every caller may build its own.
func newMessaging(cfg config.Config, store gatewayStore, clock core.Clock, log *slog.Logger) (*messaging.Service, error) {
	templates, err := cfg.SMS.NewTemplates()
	if err != nil {
		return nil, fmt.Errorf("config: sms.templates: %w", err)
	}
	return messaging.NewService(messaging.Options{Store: store, Tenants: store, Clock: clock, Templates: templates,
		Settings: cfg.SMS.Settings, MaxAttempts: cfg.SMS.MaxAttempts, Logger: log}), nil
}

// registerSMS makes r send text messages through the SMS instances the
// host provisioned, and the host apply their delivery reports. With no SMS
// instance configured no message is ever created (see config.SMS); the
// queue is still served, so messages created before an instance was
// removed wait rather than fail.
func registerSMS(r *jobs.Runner, cfg config.Config, store gatewayStore, host *callbacks.Host, clock core.Clock, log *slog.Logger, reg prometheus.Registerer) error {
	senders := host.SMSSenders()
	var instances []messaging.Instance
	for name, s := range senders {
		tune := cfg.SMS.Instances[name]
		instances = append(instances, messaging.Instance{Name: name, Sender: s, Secondary: tune.Secondary,
			RatePerSecond: float64(tune.RatePerSecond), Burst: tune.Burst})
	}
	sender, err := messaging.NewSender(messaging.SenderOptions{
		Store: store, Clock: clock, Instances: instances, Route: cfg.SMS.InstanceFor,
		BreakerFailures: cfg.SMS.BreakerFailures, BreakerOpenFor: cfg.SMS.BreakerOpenFor,
		Registerer: reg, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("config: sms: %w", err)
	}
	r.Register(messaging.Queue, sender, messaging.DefaultRetryPolicy)
	msgs, err := newMessaging(cfg, store, clock, log)
	if err != nil {
		return err
	}
	r.Register(messaging.CampaignQueue, msgs.CampaignHandler(), nil)
	host.SetDeliveries(messaging.Deliveries{Store: store, Clock: clock, Logger: log})
	host.SetBreakers(sender.BreakerState)
	if len(senders) == 0 {
		log.Info("sms: no SMS instance configured; no text messages are created")
	}
	return nil
}

// sweepReminders stores the reminders due (core/messaging) every interval
// until ctx ends.
func sweepReminders(ctx context.Context, msgs *messaging.Service, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := msgs.SweepReminders(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("reminder sweep failed", "error", err)
		} else if n > 0 {
			log.Info("reminders queued", "messages", n)
		}
	}
}
