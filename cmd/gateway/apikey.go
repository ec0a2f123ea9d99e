package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/payg-gateway/gateway/config"
	"github.com/payg-gateway/gateway/core"
)

const apikeyUsage = `Usage:
  gateway apikey create --name NAME --scope read|write|admin [--tenant ID] [--config FILE]
  gateway apikey list [--tenant ID] [--config FILE]
  gateway apikey revoke [--tenant ID] [--config FILE] KEY_ID

create prints the new key on standard output, once: the gateway keeps only
its hash. Scopes: read (GET), write (also POST, PUT, PATCH, DELETE), admin
(also managing API keys).
`

// apikeyCmd manages the /v1 API keys of a tenant, directly in the store:
// it is how the first (admin) key is made.
func apikeyCmd(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, "gateway apikey: missing subcommand\n\n"+apikeyUsage)
		return errUsage
	}
	sub, rest := args[0], args[1:]
	fs := newFlagSet("apikey "+sub, e)
	configPath := commonFlags(fs, e)
	tenant := fs.String("tenant", core.DefaultTenantID, "tenant `id` the key belongs to")
	var run func(context.Context, core.Store) error
	switch sub {
	case "create":
		name := fs.String("name", "", "who or what uses the key, e.g. crm-sync (required)")
		scope := fs.String("scope", "", "`scope` of the key: read, write or admin (required)")
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		if *name == "" || !core.Scope(*scope).Valid() {
			fmt.Fprintf(e.stderr, "gateway apikey create: --name and --scope (read, write or admin) are required\n\n%s", apikeyUsage)
			return errUsage
		}
		run = func(ctx context.Context, s core.Store) error {
			k, plaintext, err := s.CreateAPIKey(ctx, core.APIKey{TenantID: *tenant, Name: *name, Scope: core.Scope(*scope)})
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, plaintext)
			fmt.Fprintf(e.stderr, "created API key %s (%s, scope %s) for tenant %s; it is shown only once: keep it in a secret store\n",
				k.ID, k.Name, k.Scope, k.TenantID)
			return nil
		}
	case "list":
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		run = func(ctx context.Context, s core.Store) error { return listAPIKeys(ctx, s, *tenant, e) }
	case "revoke":
		if err := fs.Parse(rest); err != nil {
			return errUsage
		}
		if fs.NArg() != 1 {
			fmt.Fprintf(e.stderr, "gateway apikey revoke: want exactly one KEY_ID after the flags\n\n%s", apikeyUsage)
			return errUsage
		}
		id := fs.Arg(0)
		run = func(ctx context.Context, s core.Store) error {
			k, err := s.RevokeAPIKey(ctx, *tenant, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked %s (%s) at %s\n", k.ID, k.Name, k.RevokedAt.Format(time.RFC3339))
			return nil
		}
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, apikeyUsage)
		return nil
	default:
		fmt.Fprintf(e.stderr, "gateway apikey: unknown subcommand %q\n\n%s", sub, apikeyUsage)
		return errUsage
	}

	cfg, err := config.Load(*configPath, e.lookup)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, core.SystemClock{})
	if err != nil {
		return err
	}
	defer store.Close()
	if cfg.AutoMigrate {
		if err := store.Migrate(ctx); err != nil {
			return err
		}
	} else if err := store.Ready(ctx); err != nil {
		return err
	}
	err = run(ctx, store)
	if code := core.ErrorCode(err); code != "" && code != core.EINTERNAL {
		return errors.New(core.ErrorMessage(err)) // e.g. tenant "x" not found
	}
	return err
}

// listAPIKeys prints every key of the tenant as a table.
func listAPIKeys(ctx context.Context, s core.Store, tenant string, e env) error {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tSCOPE\tPREFIX\tCREATED\tLAST USED\tREVOKED")
	page := core.PageRequest{Limit: core.MaxPageLimit}
	for {
		keys, err := s.APIKeys(ctx, tenant, page)
		if err != nil {
			return err
		}
		for _, k := range keys.Items {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s…\t%s\t%s\t%s\n", k.ID, k.Name, k.Scope, k.Prefix,
				k.CreatedAt.Format(time.RFC3339), orDash(k.LastUsedAt), orDash(k.RevokedAt))
		}
		if keys.NextCursor == "" {
			break
		}
		page.Cursor = keys.NextCursor
	}
	return w.Flush()
}

func orDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
