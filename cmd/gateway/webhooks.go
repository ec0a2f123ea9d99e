package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook/signature"
)

const webhooksUsage = `Usage:
  gateway webhooks verify --secret whsec_… --id ID --timestamp TS --signature "v1,…" [--body FILE|-]
                          [--tolerance 5m] [--now UNIX]

Checks a webhook delivery's Standard Webhooks signature, as a CRM's
receiver must: the webhook-id, webhook-timestamp and webhook-signature
headers and the raw body (a file, or standard input with - or without
--body). --secret may be given more than once (a secret being rotated).
Exits 0 and prints "valid" if one signature matches one secret and the
timestamp is within --tolerance of now (--now, Unix seconds, checks a
captured delivery as of another time; --tolerance 0 skips the time check);
otherwise exits 1 with the reason.
`

func webhooksCmd(args []string, e env) error {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(e.stdout, webhooksUsage)
			return nil
		}
		fmt.Fprint(e.stderr, webhooksUsage)
		return errUsage
	}
	return webhooksVerify(args[1:], e)
}

func webhooksVerify(args []string, e env) error {
	fs := newFlagSet("webhooks verify", e)
	var secrets []string
	fs.Func("secret", "the endpoint's signing `secret` (whsec_…); repeat for several", func(s string) error {
		if _, err := signature.ParseSecret(s); err != nil {
			return err
		}
		secrets = append(secrets, s)
		return nil
	})
	id := fs.String("id", "", "the webhook-id header")
	ts := fs.String("timestamp", "", "the webhook-timestamp header (Unix seconds)")
	sig := fs.String("signature", "", `the webhook-signature header ("v1,…", space-separated)`)
	bodyPath := fs.String("body", "-", "`file` holding the raw request body; - reads standard input")
	tolerance := fs.Duration("tolerance", signature.DefaultTolerance, "how far the timestamp may be from now; 0 skips the check")
	nowFlag := fs.String("now", "", "verify as of this time, in Unix `seconds` (default: the current time)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), webhooksUsage) }
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var missing []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"--secret", len(secrets) > 0}, {"--id", *id != ""}, {"--timestamp", *ts != ""}, {"--signature", *sig != ""}} {
		if !f.set {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(e.stderr, "gateway webhooks verify: missing %s\n\n%s", strings.Join(missing, ", "), webhooksUsage)
		return errUsage
	}
	now := time.Now()
	if *nowFlag != "" {
		sec, err := strconv.ParseInt(*nowFlag, 10, 64)
		if err != nil {
			fmt.Fprintf(e.stderr, "gateway webhooks verify: --now %q: want Unix seconds\n", *nowFlag)
			return errUsage
		}
		now = time.Unix(sec, 0)
	}
	if *tolerance == 0 {
		// Verify always checks the time: check it against the timestamp
		// itself. A timestamp that is not a number still fails.
		if sec, err := strconv.ParseInt(*ts, 10, 64); err == nil {
			now = time.Unix(sec, 0)
		}
	}
	body, err := readBody(*bodyPath, e.stdin)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set(signature.HeaderID, *id)
	h.Set(signature.HeaderTimestamp, *ts)
	h.Set(signature.HeaderSignature, *sig)
	if err := signature.Verify(secrets, h, body, *tolerance, now); err != nil {
		return fmt.Errorf("invalid: %w", err)
	}
	fmt.Fprintln(e.stdout, "valid")
	return nil
}

// readBody reads the body from path, or from stdin for "-".
func readBody(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		if stdin == nil {
			return nil, errors.New("no standard input to read the body from")
		}
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read body from standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}
