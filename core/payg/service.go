package payg

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// Service applies the PAYG rules over a Store.
type Service struct {
	store   Store
	tenants core.TenantService
	clock   core.Clock
	box     *secretbox.Box
	engines map[TokenScheme]TokenEngine
	subs    []EventSubscriber
	log     *slog.Logger
	// known holds each tenant read so far with its time zone (id →
	// knownTenant). Tenants are never changed or deleted once created
	// (core.TenantService has no such call), so an entry never goes stale
	// and a payment needs no read of its tenant.
	known sync.Map
	// sweepTimeout bounds each store call of SweepStatuses.
	sweepTimeout time.Duration
}

// Options are a Service's dependencies.
type Options struct {
	Store   Store
	Tenants core.TenantService
	Clock   core.Clock
	// Box seals device keys. Without it devices with keys cannot be created.
	Box *secretbox.Box
	// Engines issue tokens, one per scheme the gateway supports.
	Engines map[TokenScheme]TokenEngine
	// Subscribers see every event inside the transaction that writes it,
	// to enqueue their durable jobs (webhook deliveries, messages).
	Subscribers []EventSubscriber
	Logger      *slog.Logger
	// SweepTimeout bounds each store call of SweepStatuses (a page read,
	// a contract's announcement); DefaultSweepTimeout when zero.
	SweepTimeout time.Duration
}

// DefaultSweepTimeout is Options.SweepTimeout's default.
const DefaultSweepTimeout = 30 * time.Second

// EventSubscriber is told of each event in the transaction that produced
// it, so the jobs it enqueues exist if and only if the event commits. It
// must only write through tx, and must not talk to the outside.
type EventSubscriber interface {
	OnEvent(ctx context.Context, tx Tx, e Event) error
}

// NewService returns a Service.
func NewService(o Options) *Service {
	s := &Service{store: o.Store, tenants: o.Tenants, clock: o.Clock, box: o.Box, engines: o.Engines, subs: o.Subscribers, log: o.Logger,
		sweepTimeout: o.SweepTimeout}
	if s.sweepTimeout <= 0 {
		s.sweepTimeout = DefaultSweepTimeout
	}
	return s
}

// maxAttempts bounds retries of a transaction that lost a race.
const maxAttempts = 5

// inTx runs fn in a transaction, retrying when it lost a race to a
// concurrent one (a duplicate key committed meanwhile, a serialization
// failure, a busy database). fn must be safe to run again.
func (s *Service) inTx(ctx context.Context, fn func(Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if g, ok := s.store.(GroupStore); ok {
			err = g.InGroupTx(ctx, fn)
		} else {
			err = s.store.InTx(ctx, fn)
		}
		code := core.ErrorCode(err)
		if !errors.Is(err, errRetry) && !errors.Is(err, ErrConcurrentWrite) && code != core.EUNAVAILABLE {
			return err
		}
		if attempt < maxAttempts {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
			}
		}
	}
	return err
}

// errRetry marks a transaction to run again: it lost a race it can win on
// a second look (e.g. a duplicate payment committed by a concurrent call).
var errRetry = errors.New("payg: retry transaction")

// ErrConcurrentWrite is what a store's error wraps when a write lost a
// race to a concurrent transaction that committed the same key first (a
// payment's provider transaction id). The transaction is run again, and
// then sees what the other one committed.
var ErrConcurrentWrite = errors.New("payg: a concurrent transaction wrote the same key")

func (s *Service) location(ctx context.Context, tenant string) (*time.Location, core.Tenant, error) {
	if k, ok := s.known.Load(tenant); ok {
		return k.(knownTenant).loc, k.(knownTenant).tenant, nil
	}
	t, err := s.tenants.Tenant(ctx, tenant)
	if err != nil {
		return nil, core.Tenant{}, err
	}
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		return nil, core.Tenant{}, fmt.Errorf("payg: tenant %s time zone: %w", tenant, err)
	}
	s.known.Store(tenant, knownTenant{tenant: t, loc: loc})
	return loc, t, nil
}

// knownTenant is an entry of Service.known.
type knownTenant struct {
	tenant core.Tenant
	loc    *time.Location
}

// CustomerInput is a new customer.
type CustomerInput struct {
	ExternalID string
	Name       string
	Phone      string
	Language   string
}

// CreateCustomer validates and stores a customer; the phone is normalised
// to E.164 in the tenant's default country.
func (s *Service) CreateCustomer(ctx context.Context, tenant string, in CustomerInput) (Customer, error) {
	_, t, err := s.location(ctx, tenant)
	if err != nil {
		return Customer{}, err
	}
	if strings.TrimSpace(in.Name) == "" {
		return Customer{}, core.Errorf(core.EINVALID, "customer name: required")
	}
	phone, err := NormalizePhone(in.Phone, t.DefaultCountry)
	if err != nil {
		return Customer{}, err
	}
	lang := in.Language
	if lang == "" {
		lang = "en"
	}
	now := s.clock.Now()
	c := Customer{
		ID: newID(prefixCustomer), TenantID: tenant, ExternalID: in.ExternalID,
		Name: strings.TrimSpace(in.Name), Phone: phone, PhoneHash: PhoneHash(phone), Language: lang,
		CreatedAt: now, UpdatedAt: now,
	}
	err = s.inTx(ctx, func(tx Tx) error { return tx.InsertCustomer(ctx, c) })
	if core.ErrorCode(err) == core.ECONFLICT {
		return Customer{}, core.Errorf(core.ECONFLICT, "a customer with external_id %q exists", in.ExternalID)
	}
	return c, err
}

// DeviceInput is a new device.
type DeviceInput struct {
	ExternalID   string
	Serial       string
	Scheme       TokenScheme
	SecretKeyHex string // 32 hex characters (OpenPAYGO, Nexus)
	// StartingCode is the OpenPAYGO starting code; negative means derive
	// it from the key.
	StartingCode int64
	ValueDivider int
	Restricted   bool
	// Counter is the count (OpenPAYGO) or message id (Nexus) of the last
	// token the device has seen, for devices migrated from another platform.
	Counter int64
}

// CreateDevice validates and stores a device, sealing its key.
func (s *Service) CreateDevice(ctx context.Context, tenant string, in DeviceInput) (Device, error) {
	if strings.TrimSpace(in.Serial) == "" {
		return Device{}, core.Errorf(core.EINVALID, "device serial: required")
	}
	now := s.clock.Now()
	d := Device{
		ID: newID(prefixDevice), TenantID: tenant, ExternalID: in.ExternalID,
		Serial: strings.TrimSpace(in.Serial), Scheme: in.Scheme, ValueDivider: in.ValueDivider,
		Restricted: in.Restricted, Counter: in.Counter, CreatedAt: now, UpdatedAt: now,
	}
	if in.Counter < 0 {
		return Device{}, core.Errorf(core.EINVALID, "device counter: must not be negative")
	}
	switch in.Scheme {
	case SchemeOpenPAYGO, SchemeNexus:
		key, err := hex.DecodeString(in.SecretKeyHex)
		if err != nil || len(key) != 16 {
			return Device{}, core.Errorf(core.EINVALID, "device secret_key: want 32 hex characters (16 bytes)")
		}
		if s.box == nil {
			return Device{}, core.Errorf(core.EUNAVAILABLE, "no master key configured: device keys cannot be stored")
		}
		eng, err := s.engine(in.Scheme)
		if err != nil {
			return Device{}, err
		}
		if p, ok := eng.(DeviceProvisioner); ok {
			if err := p.Provision(&d, key, in.StartingCode); err != nil {
				return Device{}, core.Errorf(core.EINVALID, "device: %v", err)
			}
		}
		d.SealedKey = s.box.Seal(key, []byte(d.ID))
	case SchemeNone:
		if in.SecretKeyHex != "" {
			return Device{}, core.Errorf(core.EINVALID, "device secret_key: a device with scheme none has no key")
		}
	default:
		if _, ok := s.asyncEngine(in.Scheme); ok { // a configured token vendor
			if in.SecretKeyHex != "" {
				return Device{}, core.Errorf(core.EINVALID, "device secret_key: the keys of token vendor %s's devices stay at the vendor", in.Scheme)
			}
			break
		}
		return Device{}, core.Errorf(core.EINVALID, "device token_scheme %q: not a scheme of this gateway (it has %s)", in.Scheme, s.schemeList())
	}
	err := s.inTx(ctx, func(tx Tx) error { return tx.InsertDevice(ctx, d) })
	if core.ErrorCode(err) == core.ECONFLICT {
		return Device{}, core.Errorf(core.ECONFLICT, "a device with serial %q or external_id %q exists", d.Serial, d.ExternalID)
	}
	return d, err
}

// PlanInput is a new catalogue plan.
type PlanInput struct {
	ExternalID string
	Name       string
	Terms      lease.Plan
}

// CreatePlan validates and stores a catalogue plan.
func (s *Service) CreatePlan(ctx context.Context, tenant string, in PlanInput) (Plan, error) {
	if strings.TrimSpace(in.Name) == "" {
		return Plan{}, core.Errorf(core.EINVALID, "plan name: required")
	}
	if err := in.Terms.Validate(); err != nil {
		return Plan{}, err
	}
	now := s.clock.Now()
	p := Plan{ID: newID(prefixPlan), TenantID: tenant, ExternalID: in.ExternalID, Name: strings.TrimSpace(in.Name),
		Terms: in.Terms, CreatedAt: now, UpdatedAt: now}
	err := s.inTx(ctx, func(tx Tx) error { return tx.InsertPlan(ctx, p) })
	if core.ErrorCode(err) == core.ECONFLICT {
		return Plan{}, core.Errorf(core.ECONFLICT, "a plan with external_id %q exists", in.ExternalID)
	}
	return p, err
}

// ContractInput is a new contract. It takes its terms from the catalogue
// plan PlanID, or from Plan when PlanID is empty.
type ContractInput struct {
	ExternalID    string
	AccountNumber string
	CustomerID    string
	DeviceIDs     []string
	PlanID        string
	Plan          lease.Plan
}

var accountPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// CreateContract validates and stores a contract with a snapshot of plan.
func (s *Service) CreateContract(ctx context.Context, tenant string, in ContractInput) (Contract, error) {
	if !accountPattern.MatchString(in.AccountNumber) {
		return Contract{}, core.Errorf(core.EINVALID, "contract account_number %q: want 1-32 letters, digits, '.', '_' or '-'", in.AccountNumber)
	}
	if in.PlanID == "" {
		if err := in.Plan.Validate(); err != nil {
			return Contract{}, err
		}
	}
	if len(in.DeviceIDs) == 0 {
		return Contract{}, core.Errorf(core.EINVALID, "contract device_ids: at least one device")
	}
	now := s.clock.Now()
	c := Contract{
		ID: newID(prefixContract), TenantID: tenant, ExternalID: in.ExternalID,
		AccountNumber: normalizeAccount(in.AccountNumber), CustomerID: in.CustomerID,
		DeviceIDs: in.DeviceIDs, PlanID: in.PlanID, Plan: in.Plan, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	err := s.inTx(ctx, func(tx Tx) error {
		if in.PlanID != "" {
			p, err := tx.Plan(ctx, tenant, in.PlanID)
			if err != nil {
				return fmt.Errorf("contract plan_id %q: %w", in.PlanID, err)
			}
			c.Plan = p.Terms
		}
		c.State = lease.NewState(c.Plan)
		c.AnnouncedStatus = c.State.Status
		if _, err := tx.Customer(ctx, tenant, in.CustomerID); err != nil {
			return fmt.Errorf("contract customer_id %q: %w", in.CustomerID, err)
		}
		for _, id := range in.DeviceIDs {
			d, err := tx.Device(ctx, tenant, id)
			if err != nil {
				return fmt.Errorf("contract device_ids %q: %w", id, err)
			}
			if err := s.checkTokenMode(c.Plan, d); err != nil {
				return err
			}
		}
		return tx.InsertContract(ctx, c)
	})
	if core.ErrorCode(err) == core.ECONFLICT {
		return Contract{}, core.Errorf(core.ECONFLICT, "a contract with account_number %q or external_id %q exists", c.AccountNumber, c.ExternalID)
	}
	return c, err
}

// checkTokenMode refuses a set_time plan for a device whose engine cannot
// set credit (a token vendor's). Devices without tokens take any plan.
func (s *Service) checkTokenMode(p lease.Plan, d Device) error {
	eng, ok := s.engines[d.Scheme]
	if !ok || !p.SetsTime() {
		return nil
	}
	if _, ok := eng.(CreditSetter); !ok {
		return core.Errorf(core.EINVALID, "contract plan token_mode set_time: device %s (token scheme %s) cannot have its credit set; use add_time", d.ID, d.Scheme)
	}
	return nil
}

// normalizeAccount is the canonical form of an account reference: what
// customers type is matched case-insensitively, without spaces.
func normalizeAccount(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// Quarantine keeps a genuine callback that could not be read.
func (s *Service) Quarantine(ctx context.Context, q Quarantined) (Quarantined, error) {
	q.ID, q.Status = newID(prefixQuarantine), "open"
	if q.ReceivedAt.IsZero() {
		q.ReceivedAt = s.clock.Now()
	}
	err := s.inTx(ctx, func(tx Tx) error { return tx.InsertQuarantine(ctx, q) })
	if err != nil {
		return Quarantined{}, fmt.Errorf("payg: quarantine %s callback: %w", q.Instance, err)
	}
	return q, nil
}
