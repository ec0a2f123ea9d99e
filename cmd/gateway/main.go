// Command gateway is the PAYG integration gateway: one binary that serves
// the API and provider callbacks, migrates its database, and carries the
// operator's tools.
//
//	gateway [serve] [--config FILE] [--listen ADDR]
//	gateway migrate [--config FILE]
//	gateway token openpaygo encode|decode --csv FILE
//	gateway token nexus encode --csv FILE
//	gateway apikey create|list|revoke
//	gateway sim pay|serve-daraja|serve-momo
//	gateway mpesa register-urls --instance NAME [--config FILE]
//	gateway webhooks verify --secret whsec_… --id ID --timestamp TS --signature "v1,…" [--body FILE|-]
//	gateway version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	gin.SetMode(gin.ReleaseMode) // gin's mode is process-wide: set it once, here
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process at once
	}()
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, lookup: os.LookupEnv})
	stop()
	os.Exit(code)
}

// env is what a command sees of the process, injected for tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

const usage = `gateway: the PAYG integration gateway

Usage:
  gateway [serve] [--config FILE] [--listen ADDR]   serve the API and callbacks (default)
  gateway migrate [--config FILE]                   apply pending database migrations
  gateway token openpaygo encode|decode --csv FILE  OpenPAYGO tokens for (or from) each CSV row
  gateway token nexus encode --csv FILE             Nexus keycodes for each CSV row
  gateway apikey create|list|revoke                 manage /v1 API keys (gateway apikey help)
  gateway keys rotate --new-key REF                 re-seal device keys under a new master key
  gateway sim pay --instance N --account A --amount 500  deliver a simulated M-Pesa payment
  gateway sim serve-daraja|serve-momo [--listen ADDR]  run a fake Daraja or MTN MoMo API
  gateway mpesa register-urls --instance N          register an M-Pesa instance's C2B URLs
  gateway webhooks verify --secret S --id ID --timestamp TS --signature SIG [--body FILE|-]
                                                    check a webhook delivery's signature
  gateway version                                   print the version

Configuration: --config FILE (or GATEWAY_CONFIG), then GATEWAY_* variables.
With none, the gateway listens on :8080 and keeps its data in ./data/gateway.db.
`

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, e env) int {
	cmd, rest := "serve", args
	if len(args) > 0 && (args[0] == "" || args[0][0] != '-') {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCmd(ctx, rest, e)
	case "migrate":
		err = migrateCmd(ctx, rest, e)
	case "apikey":
		err = apikeyCmd(ctx, rest, e)
	case "sim":
		err = simCmd(ctx, rest, e)
	case "mpesa":
		err = mpesaCmd(ctx, rest, e)
	case "keys":
		err = keysCmd(ctx, rest, e)
	case "token":
		err = tokenCmd(rest, e)
	case "webhooks":
		err = webhooksCmd(rest, e)
	case "version":
		fmt.Fprintln(e.stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
	default:
		fmt.Fprintf(e.stderr, "gateway: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(e.stderr, "gateway %s: %v\n", cmd, err)
		return 1
	}
}
