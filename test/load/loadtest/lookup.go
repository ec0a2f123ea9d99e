package loadtest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/payg"
)

// ContractRoute is the API route of one contract.
const ContractRoute = "/v1/contracts/:id"

// Lookup is the contract lookup benchmark's result.
type Lookup struct {
	// Via is "api" (GET /v1/contracts/{id}) or "store" (payg Reader.Contract
	// in a read transaction, used while the API has no such route).
	Via         string `json:"via"`
	Concurrency int    `json:"concurrency"`
	Stats
}

// LookupOptions size the contract lookup benchmark.
type LookupOptions struct {
	Lookups     int
	Concurrency int
	Seed        uint64
}

// LookupContracts times lookups of random fleet contracts through the
// API when the gateway serves ContractRoute, else through the store.
func LookupContracts(ctx context.Context, st Store, gw *Gateway, f *Fleet, client *http.Client, o LookupOptions) (Lookup, error) {
	lo := LoopOptions{Concurrency: o.Concurrency, Calls: o.Lookups}
	pick := func(seq int) int { return rand.New(rand.NewPCG(o.Seed, uint64(seq))).IntN(f.Contracts) }
	if gw.HasRoute(http.MethodGet, ContractRoute) {
		if err := checkLoopback(gw.URL); err != nil {
			return Lookup{}, err
		}
		_, key, err := st.CreateAPIKey(ctx, core.APIKey{TenantID: f.Tenant, Name: "loadtest", Scope: core.ScopeRead})
		if err != nil {
			return Lookup{}, fmt.Errorf("loadtest: lookup API key: %w", err)
		}
		s, err := loop(ctx, lo, func(ctx context.Context, seq int) error {
			return getContract(ctx, client, gw.URL+"/v1/contracts/"+f.ContractID(pick(seq)), key)
		})
		return Lookup{Via: "api", Concurrency: o.Concurrency, Stats: s}, err
	}
	s, err := loop(ctx, lo, func(ctx context.Context, seq int) error {
		return st.View(ctx, func(r payg.Reader) error {
			_, err := r.Contract(ctx, f.Tenant, f.ContractID(pick(seq)))
			return err
		})
	})
	return Lookup{Via: "store", Concurrency: o.Concurrency, Stats: s}, err
}

func getContract(ctx context.Context, client *http.Client, url, key string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
