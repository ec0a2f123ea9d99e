package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/secretbox"
)

// Tenant owns the seeded fleet and the run's payments.
const Tenant = "loadtest"

// Targets of issue 9, on 2 cores at concurrency 32.
const (
	TargetRatio = 0.6
	TargetP99   = 100 * time.Millisecond
)

// Config sizes a run.
type Config struct {
	Contracts int
	// Requests and Duration bound each of the two measured phases
	// (baseline, gateway): whichever comes first; 0 is no bound.
	Requests    int
	Duration    time.Duration
	Concurrency int
	// DupShare and UnknownShare: see MixOptions.
	DupShare, UnknownShare float64
	Seed                   uint64
	// SeedBatch is contracts per seeding transaction; SeedWorkers the
	// transactions at once (0: 1 on SQLite, 4 on PostgreSQL).
	SeedBatch, SeedWorkers int
	// Lookups is the number of contract lookups timed, LookupConcurrency
	// the callers making them.
	Lookups, LookupConcurrency int
	// GatewayLog receives the gateway's log; nil discards it.
	GatewayLog io.Writer
	// ProfileDir, when set, receives CPU profiles of the two phases:
	// <store>-baseline.cpu.pprof and <store>-gateway.cpu.pprof.
	ProfileDir string
}

// Result is one store's run, as written to the result file.
type Result struct {
	Store        string    `json:"store"`
	Where        string    `json:"where"`
	StartedAt    time.Time `json:"started_at"`
	GoVersion    string    `json:"go_version"`
	GOMAXPROCS   int       `json:"gomaxprocs"`
	NumCPU       int       `json:"num_cpu"`
	Contracts    int       `json:"contracts"`
	SeedSeconds  float64   `json:"seed_s"`
	Concurrency  int       `json:"concurrency"`
	DupShare     float64   `json:"duplicate_share"`
	UnknownShare float64   `json:"unknown_share"`
	Baseline     Stats     `json:"baseline"`
	Gateway      Stats     `json:"gateway"`
	// DuplicatesSent re-sent acknowledged payments; DuplicatesOK of them
	// were acknowledged again.
	DuplicatesSent int `json:"duplicates_sent"`
	DuplicatesOK   int `json:"duplicates_ok"`
	// Ratio is the gateway's accepted callbacks per second over the
	// baseline's: the headline figure.
	Ratio        float64       `json:"ratio"`
	Lookup       Lookup        `json:"lookup"`
	Verification *Verification `json:"verification"`
	// PeakRSSBytes is VmHWM, reset before the run where the kernel allows.
	PeakRSSBytes int64    `json:"peak_rss_bytes"`
	Targets      Targets  `json:"targets"`
	Profiles     []string `json:"profiles,omitempty"`
}

// Targets says which of issue 9's targets the run met.
type Targets struct {
	Ratio    bool `json:"ratio_ge_0_6"`
	P99      bool `json:"p99_lt_100ms"`
	NoErrors bool `json:"zero_errors"`
	Verified bool `json:"verified"`
}

// Correct reports whether the run was correct: no errors, every payment
// verified. (Throughput and latency targets are reported, not required.)
func (r *Result) Correct() bool { return r.Targets.NoErrors && r.Targets.Verified }

// Run seeds t, serves the gateway and the baseline on it, measures both
// under the same load, verifies the gateway's payments through the store
// and times contract lookups.
func Run(ctx context.Context, t *Target, cfg Config) (_ *Result, err error) {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 32
	}
	if cfg.LookupConcurrency < 1 {
		cfg.LookupConcurrency = 1
	}
	if cfg.SeedWorkers < 1 {
		cfg.SeedWorkers = 1
		if t.Name == "postgres" {
			cfg.SeedWorkers = 4
		}
	}
	resetPeakRSS()
	res := &Result{
		Store: t.Name, Where: t.Where, StartedAt: time.Now().UTC(), GoVersion: runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), Contracts: cfg.Contracts,
		Concurrency: cfg.Concurrency, DupShare: cfg.DupShare, UnknownShare: cfg.UnknownShare,
	}
	box, err := secretbox.New(secretbox.NewKey())
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	t0 := time.Now()
	fleet, err := Seed(ctx, t.Store, SeedOptions{Contracts: cfg.Contracts, Tenant: Tenant, Box: box, Batch: cfg.SeedBatch, Workers: cfg.SeedWorkers})
	if err != nil {
		return nil, err
	}
	res.SeedSeconds = time.Since(t0).Seconds()

	gw, err := StartGateway(ctx, t.Store, GatewayOptions{Tenant: Tenant, Box: box, Log: cfg.GatewayLog})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, gw.Close()) }()
	base, err := StartBaseline(t.Store, core.DefaultTenantID)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, base.Close()) }()
	client := NewClient(cfg.Concurrency)
	defer client.CloseIdleConnections()
	lo := LoopOptions{Concurrency: cfg.Concurrency, Calls: cfg.Requests, Duration: cfg.Duration}
	mix := func(prefix string) *Mix {
		return NewMix(MixOptions{Fleet: fleet, DupShare: cfg.DupShare, UnknownShare: cfg.UnknownShare, Seed: cfg.Seed, TxPrefix: prefix})
	}

	// The baseline first, then the gateway, on the same store and client.
	err = res.profile(cfg, "baseline", func() (err error) {
		res.Baseline, err = Fire(ctx, client, base.URL, mix("BL"), lo)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loadtest: baseline: %w", err)
	}
	client.CloseIdleConnections()
	gm := mix("LT")
	err = res.profile(cfg, "gateway", func() (err error) {
		res.Gateway, err = Fire(ctx, client, gw.ConfirmationURL(), gm, lo)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loadtest: gateway: %w", err)
	}
	res.DuplicatesSent, res.DuplicatesOK = gm.Duplicates()
	if res.Baseline.PerSecond > 0 {
		res.Ratio = res.Gateway.PerSecond / res.Baseline.PerSecond
	}

	if res.Verification, err = Verify(ctx, t.Store, fleet, gm.Payments()); err != nil {
		return nil, err
	}
	if cfg.Lookups > 0 {
		res.Lookup, err = LookupContracts(ctx, t.Store, gw, fleet, client, LookupOptions{Lookups: cfg.Lookups, Concurrency: cfg.LookupConcurrency, Seed: cfg.Seed})
		if err != nil {
			return nil, err
		}
	}
	res.PeakRSSBytes = peakRSS()
	res.Targets = Targets{
		Ratio:    res.Ratio >= TargetRatio,
		P99:      res.Gateway.P99 < TargetP99,
		NoErrors: res.Gateway.Errors == 0 && res.Baseline.Errors == 0 && res.DuplicatesOK == res.DuplicatesSent,
		Verified: res.Verification.OK(),
	}
	return res, nil
}

// profile runs phase, under a CPU profile when cfg.ProfileDir is set.
func (r *Result) profile(cfg Config, phase string, fn func() error) error {
	if cfg.ProfileDir == "" {
		return fn()
	}
	path := filepath.Join(cfg.ProfileDir, r.Store+"-"+phase+".cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return errors.Join(fmt.Errorf("cpu profile: %w", err), f.Close())
	}
	err = fn()
	pprof.StopCPUProfile()
	if cerr := f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("cpu profile: %w", cerr)
	}
	r.Profiles = append(r.Profiles, path)
	return err
}

// peakRSS is the process's peak resident set size (VmHWM), 0 where
// /proc is not available.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM to the current RSS (Linux: "5" to clear_refs),
// so each store's run reports its own peak. Where it cannot, the peak is
// the process's.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
