// Command load is the gateway's benchmark harness (`make bench`). For
// SQLite, and for PostgreSQL when a DSN is given, it seeds contracts, serves
// the real gateway on loopback, fires M-Pesa C2B confirmations at it with
// duplicates and unknown accounts, runs a minimal two-insert baseline
// handler on the same store under the same load, and prints the gateway's
// throughput as a ratio of the baseline's, its latencies, errors, peak RSS
// and a check through the store that every acknowledged payment was
// applied exactly once. Each store's result is also written as JSON.
//
//	go run ./test/load [-contracts 10000] [-requests 20000 | -duration 60s] [-concurrency 32]
//	                   [-postgres DSN] [-cpuprofile DIR] [-out PATTERN]
//
// It exits 1 when a run had errors or failed verification; missed
// throughput or latency targets are reported, not failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/payg-gateway/gateway/core/postgres/pgtest"
	"github.com/payg-gateway/gateway/test/load/loadtest"
)

func main() {
	gin.SetMode(gin.ReleaseMode) // process-wide, as in cmd/gateway
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "load:", err)
		}
		os.Exit(1)
	}
}

// errIncorrect marks a run that completed but was not correct.
var errIncorrect = errors.New("a run had errors or failed verification (see above)")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadtest.Config
	fs.IntVar(&cfg.Contracts, "contracts", 10_000, "contracts to seed, each with a customer and an OpenPAYGO device")
	fs.IntVar(&cfg.Requests, "requests", 20_000, "callbacks per phase (baseline, gateway); 0: no limit (give -duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "time limit per phase; 0: none (give -requests)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "concurrent callers, each on its own keep-alive connection")
	fs.Float64Var(&cfg.DupShare, "duplicates", 0.10, "share of calls re-sending an acknowledged TransID")
	fs.Float64Var(&cfg.UnknownShare, "unknown", 0.05, "share of calls paying an account no contract has")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the traffic's random choices")
	fs.IntVar(&cfg.SeedBatch, "seed-batch", 1000, "contracts per seeding transaction")
	fs.IntVar(&cfg.Lookups, "lookups", 2000, "contract lookups to time (0: none)")
	fs.IntVar(&cfg.LookupConcurrency, "lookup-concurrency", 1, "concurrent contract lookups")
	pgDSN := fs.String("postgres", os.Getenv(pgtest.EnvDSN), "PostgreSQL `DSN` to run on as well, in a fresh schema dropped afterwards (default $"+pgtest.EnvDSN+")")
	onSQLite := fs.Bool("sqlite", true, "run on SQLite (-sqlite=false: PostgreSQL only)")
	sqliteDir := fs.String("sqlite-dir", "", "`directory` for the SQLite database (a temporary one inside it, removed afterwards); default the system's temporary directory")
	out := fs.String("out", "test/load/results/{store}-{time}.json", "result file `pattern`; {store} and {time} are replaced")
	profileDir := fs.String("cpuprofile", "", "`directory` for CPU profiles of each phase (<store>-baseline.cpu.pprof, <store>-gateway.cpu.pprof)")
	logFile := fs.String("log", "", "`file` for the gateway's JSON log (default: formatted and discarded)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case cfg.Contracts < 1:
		return errors.New("-contracts must be at least 1")
	case cfg.Requests <= 0 && cfg.Duration <= 0:
		return errors.New("give -requests or -duration")
	case cfg.DupShare < 0 || cfg.UnknownShare < 0 || cfg.DupShare+cfg.UnknownShare > 1:
		return errors.New("-duplicates and -unknown must be shares between 0 and 1, together at most 1")
	case !*onSQLite && *pgDSN == "":
		return errors.New("-sqlite=false needs -postgres DSN")
	case *pgDSN != "" && !strings.Contains(*out, "{store}"):
		return errors.New("-out must contain {store} when more than one store runs")
	}
	if *profileDir != "" {
		if err := os.MkdirAll(*profileDir, 0o750); err != nil {
			return err
		}
		cfg.ProfileDir = *profileDir
	}
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.GatewayLog = f
	}

	stamp := time.Now().UTC().Format("20060102T150405Z")
	type opener func(context.Context) (*loadtest.Target, error)
	var stores []struct {
		name string
		open opener
	}
	if *onSQLite {
		stores = append(stores, struct {
			name string
			open opener
		}{"sqlite", func(ctx context.Context) (*loadtest.Target, error) { return loadtest.OpenSQLite(ctx, *sqliteDir) }})
	}
	if *pgDSN != "" {
		stores = append(stores, struct {
			name string
			open opener
		}{"postgres", func(ctx context.Context) (*loadtest.Target, error) { return loadtest.OpenPostgres(ctx, *pgDSN) }})
	} else {
		fmt.Fprintf(stdout, "(PostgreSQL skipped: set %s or -postgres DSN to run it too)\n", pgtest.EnvDSN)
	}
	var results []*loadtest.Result
	for _, s := range stores {
		fmt.Fprintf(stderr, "%s: seeding %d contracts, then the baseline and the gateway, %s each at concurrency %d…\n",
			s.name, cfg.Contracts, phase(cfg), cfg.Concurrency)
		res, err := runStore(ctx, s.open, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		path := strings.NewReplacer("{store}", s.name, "{time}", stamp).Replace(*out)
		if err := res.WriteJSON(path); err != nil {
			return err
		}
		if err := res.WriteSummary(stdout); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "result: %s\n\n", path)
		results = append(results, res)
	}
	if err := loadtest.WriteTable(stdout, results); err != nil {
		return err
	}
	for _, r := range results {
		if !r.Correct() {
			return errIncorrect
		}
	}
	return nil
}

// phase describes how long each measured phase runs.
func phase(cfg loadtest.Config) string {
	switch {
	case cfg.Requests > 0 && cfg.Duration > 0:
		return fmt.Sprintf("%d callbacks or %s", cfg.Requests, cfg.Duration)
	case cfg.Duration > 0:
		return cfg.Duration.String()
	}
	return fmt.Sprintf("%d callbacks", cfg.Requests)
}

func runStore(ctx context.Context, open func(context.Context) (*loadtest.Target, error), cfg loadtest.Config) (res *loadtest.Result, err error) {
	t, err := open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, t.Close()) }()
	return loadtest.Run(ctx, t, cfg)
}
