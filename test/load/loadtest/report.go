package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteSummary prints the run as one block.
func (r *Result) WriteSummary(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "== %s: %d contracts seeded in %s; concurrency %d; %.0f%% duplicates, %.0f%% unknown accounts\n",
		r.Store, r.Contracts, round(time.Duration(r.SeedSeconds*float64(time.Second))), r.Concurrency, 100*r.DupShare, 100*r.UnknownShare)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\trequests\taccepted/s\tp50\tp95\tp99\tmax\terrors\t")
	for _, row := range []struct {
		name string
		s    Stats
	}{{"baseline", r.Baseline}, {"gateway", r.Gateway}} {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t\n", row.name, row.s.Requests, row.s.PerSecond,
			round(row.s.P50), round(row.s.P95), round(row.s.P99), round(row.s.Max), row.s.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "ratio %.2f (target >= %.1f: %s)   gateway p99 %s (target < %s: %s)   errors %d (target 0: %s)\n",
		r.Ratio, TargetRatio, verdict(r.Targets.Ratio), round(r.Gateway.P99), TargetP99, verdict(r.Targets.P99),
		r.Gateway.Errors+r.Baseline.Errors, verdict(r.Targets.NoErrors))
	for _, s := range append(r.Gateway.ErrorSamples, r.Baseline.ErrorSamples...) {
		fmt.Fprintf(&b, "  error: %s\n", s)
	}
	v := r.Verification
	fmt.Fprintf(&b, "verified through the store: %d payments (%d applied once with one token, %d in suspense, %d never acknowledged), %d duplicates re-sent (%d acknowledged, none applied), %d contracts, %d tokens: %s\n",
		v.Payments, v.Applied, v.Suspense, v.Unacked, r.DuplicatesSent, r.DuplicatesOK, v.Contracts, v.Tokens, verdict(v.OK()))
	for _, p := range v.Problems {
		fmt.Fprintf(&b, "  problem: %s\n", p)
	}
	if v.ProblemCount > len(v.Problems) {
		fmt.Fprintf(&b, "  … %d problems in all\n", v.ProblemCount)
	}
	if l := r.Lookup; l.Requests > 0 {
		how := "GET " + strings.ReplaceAll(ContractRoute, ":id", "{id}")
		if l.Via == "store" {
			how = "payg Reader.Contract through the store (the API has no " + strings.ReplaceAll(ContractRoute, ":id", "{id}") + " yet)"
		}
		fmt.Fprintf(&b, "contract lookups, %s, %d at concurrency %d: p50 %s p95 %s p99 %s, %d errors\n",
			how, l.Requests, l.Concurrency, round(l.P50), round(l.P95), round(l.P99), l.Errors)
	}
	fmt.Fprintf(&b, "peak RSS %d MB\n", r.PeakRSSBytes>>20)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTable prints the headline: one line per store.
func WriteTable(w io.Writer, results []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "store\tcontracts\tgateway/s\tbaseline/s\tratio\tgateway p99\terrors\tverified\tpeak RSS")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2f\t%s\t%d\t%s\t%d MB\n", r.Store, r.Contracts, r.Gateway.PerSecond,
			r.Baseline.PerSecond, r.Ratio, round(r.Gateway.P99), r.Gateway.Errors+r.Baseline.Errors, verdict(r.Targets.Verified), r.PeakRSSBytes>>20)
	}
	return tw.Flush()
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

// round shortens a duration for display.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(10 * time.Microsecond)
	}
}

// WriteJSON writes the result to path, creating its directory.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("loadtest: result: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("loadtest: result: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("loadtest: result: %w", err)
	}
	return nil
}
