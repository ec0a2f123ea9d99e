package loadtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/payg-gateway/gateway/adapters/openpaygo"
	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
	"github.com/payg-gateway/gateway/core/payg"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// PricePerDay is the seeded plan's price of a day of credit: KES 50.00.
const PricePerDay = 5000

// Fleet is the seeded book of contracts. Contract i has customer i and
// OpenPAYGO device i; their ids, account number, serial, phone and device
// key all derive from i, so a run keeps no table of them.
type Fleet struct {
	Tenant    string
	Contracts int
	Plan      lease.Plan
	stamp     int64    // Unix ms at seeding: the time part of every id
	keySeed   [16]byte // device key i is SHA-256(keySeed, i)[:16]
}

// id is prefix + 32 hex digits, time first, like the gateway's UUIDv7 ids.
func (f *Fleet) id(prefix string, i int) string {
	return fmt.Sprintf("%s%012x%020x", prefix, f.stamp, i)
}

// ContractID is contract i's id.
func (f *Fleet) ContractID(i int) string { return f.id("con_", i) }

// CustomerID is customer i's id.
func (f *Fleet) CustomerID(i int) string { return f.id("cus_", i) }

// DeviceID is device i's id.
func (f *Fleet) DeviceID(i int) string { return f.id("dev_", i) }

// Account is the account number customers of contract i type when paying.
func (f *Fleet) Account(i int) string { return fmt.Sprintf("LT%08d", i) }

// Serial is device i's serial number.
func (f *Fleet) Serial(i int) string { return fmt.Sprintf("SN%08d", i) }

// Phone is customer i's phone number (Kenyan, E.164).
func (f *Fleet) Phone(i int) string { return fmt.Sprintf("+2547%08d", i) }

// Key is device i's OpenPAYGO secret key.
func (f *Fleet) Key(i int) openpaygo.Key {
	var b [24]byte
	copy(b[:], f.keySeed[:])
	binary.BigEndian.PutUint64(b[16:], uint64(i))
	sum := sha256.Sum256(b[:])
	var k openpaygo.Key
	copy(k[:], sum[:])
	return k
}

// SeedOptions size the seeding.
type SeedOptions struct {
	Contracts int
	// Tenant is created (Africa/Nairobi, KE) and owns every row.
	Tenant string
	// Box seals the device keys, as the gateway's master key does.
	Box *secretbox.Box
	// Batch is the number of contracts (with their customers and devices)
	// per transaction; default 1000.
	Batch int
	// Workers is the number of transactions run at once; default 1 (SQLite
	// has one writer; PostgreSQL gains from a few).
	Workers int
	Clock   core.Clock
}

// Seed creates the tenant and o.Contracts contracts, each with a customer
// and an OpenPAYGO device (divider 1, counter 0), in batches through
// payg.Tx, and returns the fleet.
func Seed(ctx context.Context, st Store, o SeedOptions) (*Fleet, error) {
	if o.Contracts < 1 {
		return nil, fmt.Errorf("loadtest: seed: %d contracts", o.Contracts)
	}
	if o.Batch < 1 {
		o.Batch = 1000
	}
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if _, err := st.CreateTenant(ctx, core.Tenant{ID: o.Tenant, Name: "Load test", TimeZone: "Africa/Nairobi", DefaultCountry: "KE"}); err != nil {
		return nil, fmt.Errorf("loadtest: seed tenant: %w", err)
	}
	f := &Fleet{
		Tenant: o.Tenant, Contracts: o.Contracts, stamp: o.Clock.Now().UnixMilli(),
		Plan: lease.Plan{
			Kind: lease.KindPAYGCredit, Currency: "KES", Price: PricePerDay, PricePeriod: lease.PeriodDay,
			GraceDays: 3, DefaultDays: 30,
		},
	}
	_, _ = rand.Read(f.keySeed[:])
	if err := f.Plan.Validate(); err != nil {
		return nil, fmt.Errorf("loadtest: seed plan: %w", err)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan int)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for lo := range batches {
				hi := min(lo+o.Batch, o.Contracts)
				if err := f.seedBatch(ctx, st, o, lo, hi); err != nil {
					cancel(fmt.Errorf("loadtest: seed contracts %d-%d: %w", lo, hi-1, err))
				}
			}
		})
	}
feed:
	for lo := 0; lo < o.Contracts; lo += o.Batch {
		select {
		case batches <- lo:
		case <-ctx.Done():
			break feed
		}
	}
	close(batches)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	// As after any bulk load: without statistics PostgreSQL's planner
	// scans every device link to read one contract.
	if a, ok := st.(interface{ Analyze(context.Context) error }); ok {
		if err := a.Analyze(ctx); err != nil {
			return nil, fmt.Errorf("loadtest: seed: %w", err)
		}
	}
	return f, nil
}

// seedBatch stores contracts lo..hi-1 in one transaction.
func (f *Fleet) seedBatch(ctx context.Context, st Store, o SeedOptions, lo, hi int) error {
	now := o.Clock.Now()
	var eng openpaygo.Engine
	return st.InTx(ctx, func(tx payg.Tx) error {
		for i := lo; i < hi; i++ {
			phone := f.Phone(i)
			cus := payg.Customer{
				ID: f.CustomerID(i), TenantID: f.Tenant, ExternalID: fmt.Sprintf("crm-cus-%d", i),
				Name: fmt.Sprintf("Customer %d", i), Phone: phone, PhoneHash: payg.PhoneHash(phone), Language: "en",
				CreatedAt: now, UpdatedAt: now,
			}
			if err := tx.InsertCustomer(ctx, cus); err != nil {
				return fmt.Errorf("customer %d: %w", i, err)
			}
			key := f.Key(i)
			dev := payg.Device{
				ID: f.DeviceID(i), TenantID: f.Tenant, ExternalID: fmt.Sprintf("crm-dev-%d", i), Serial: f.Serial(i),
				Scheme: payg.SchemeOpenPAYGO, ValueDivider: 1, CreatedAt: now, UpdatedAt: now,
			}
			if err := eng.Provision(&dev, key[:], -1); err != nil { // derives the starting code, as CreateDevice does
				return fmt.Errorf("device %d: %w", i, err)
			}
			dev.SealedKey = o.Box.Seal(key[:], []byte(dev.ID))
			if err := tx.InsertDevice(ctx, dev); err != nil {
				return fmt.Errorf("device %d: %w", i, err)
			}
			con := payg.Contract{
				ID: f.ContractID(i), TenantID: f.Tenant, ExternalID: fmt.Sprintf("crm-con-%d", i),
				AccountNumber: f.Account(i), CustomerID: cus.ID, DeviceIDs: []string{dev.ID},
				Plan: f.Plan, State: lease.NewState(f.Plan), Version: 1, CreatedAt: now, UpdatedAt: now,
			}
			if err := tx.InsertContract(ctx, con); err != nil {
				return fmt.Errorf("contract %d: %w", i, err)
			}
		}
		return nil
	})
}
