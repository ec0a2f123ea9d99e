package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/connectors/webhook/signature"
)

func runWebhooks(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"webhooks"}, args...), env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, lookup: func(string) (string, bool) { return "", false },
	})
	return code, out.String(), errOut.String()
}

// TestWebhooksVerifyVectors runs the shared signature vectors through
// the command line: valid ones exit 0, the others 1 with the reason, and
// a missing header is a usage error.
func TestWebhooksVerifyVectors(t *testing.T) {
	b, err := os.ReadFile("../../connectors/webhook/signature/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Name             string   `json:"name"`
			Secrets          []string `json:"secrets"`
			ID               string   `json:"id"`
			Timestamp        string   `json:"timestamp"`
			Body             string   `json:"body"`
			Signature        string   `json:"signature"`
			Now              int64    `json:"now"`
			ToleranceSeconds int      `json:"tolerance_seconds"`
			Expect           string   `json:"expect"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]error{
		"no_match": signature.ErrNoMatch, "stale_timestamp": signature.ErrStaleTimestamp, "bad_timestamp": signature.ErrBadTimestamp,
	}
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			body := filepath.Join(t.TempDir(), "body.json")
			if err := os.WriteFile(body, []byte(v.Body), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify", "--id", v.ID, "--timestamp", v.Timestamp, "--signature", v.Signature, "--body", body,
				"--now", strconv.FormatInt(v.Now, 10), "--tolerance", (time.Duration(v.ToleranceSeconds) * time.Second).String()}
			for _, s := range v.Secrets {
				args = append(args, "--secret", s)
			}
			code, stdout, stderr := runWebhooks(t, "", args...)
			switch v.Expect {
			case "valid":
				if code != 0 || stdout != "valid\n" {
					t.Errorf("exit %d, stdout %q, stderr %q; want 0 and valid", code, stdout, stderr)
				}
			case "missing_headers":
				if code != 2 || !strings.Contains(stderr, "missing --") {
					t.Errorf("exit %d, stderr %q; want 2 naming the missing flag", code, stderr)
				}
			default:
				if code != 1 || stdout != "" || !strings.Contains(stderr, reasons[v.Expect].Error()) {
					t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, reasons[v.Expect])
				}
			}
		})
	}
}

// TestWebhooksVerifyStdinAndTolerance: the body from standard input, the
// current time by default, and --tolerance 0 for a delivery captured long
// ago.
func TestWebhooksVerifyStdinAndTolerance(t *testing.T) {
	secret := signature.NewSecret()
	body := `{"id":"evt_1","type":"payment.applied"}`
	sign := func(at time.Time) []string {
		h, err := signature.Headers([]string{secret}, "evt_1", at, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return []string{"verify", "--secret", secret, "--id", h.Get(signature.HeaderID),
			"--timestamp", h.Get(signature.HeaderTimestamp), "--signature", h.Get(signature.HeaderSignature)}
	}
	if code, stdout, stderr := runWebhooks(t, body, sign(time.Now())...); code != 0 || stdout != "valid\n" {
		t.Errorf("fresh delivery on stdin: exit %d, %q %q", code, stdout, stderr)
	}
	old := sign(time.Now().Add(-72 * time.Hour))
	if code, _, stderr := runWebhooks(t, body, old...); code != 1 || !strings.Contains(stderr, "outside the tolerance") {
		t.Errorf("three-day-old delivery: exit %d, %q", code, stderr)
	}
	if code, stdout, stderr := runWebhooks(t, body, append(old, "--tolerance", "0")...); code != 0 || stdout != "valid\n" {
		t.Errorf("three-day-old delivery without the time check: exit %d, %q %q", code, stdout, stderr)
	}
	if code, _, stderr := runWebhooks(t, body+" ", sign(time.Now())...); code != 1 || !strings.Contains(stderr, "no signature matches") {
		t.Errorf("a body with a byte more: exit %d, %q", code, stderr)
	}
	for name, args := range map[string][]string{
		"no subcommand":  nil,
		"unknown":        {"sign"},
		"bad secret":     {"verify", "--secret", "hunter2", "--id", "a", "--timestamp", "1", "--signature", "v1,x"},
		"bad now":        {"verify", "--secret", secret, "--id", "a", "--timestamp", "1", "--signature", "v1,x", "--now", "soon"},
		"extra argument": {"verify", "--secret", secret, "--id", "a", "--timestamp", "1", "--signature", "v1,x", "body.json"},
	} {
		if code, _, _ := runWebhooks(t, body, args...); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}
	if code, _, _ := runWebhooks(t, body, "verify", "--secret", secret, "--id", "a", "--timestamp", "1", "--signature", "v1,x", "--body", "/no/such/file"); code != 1 {
		t.Errorf("unreadable body file: exit %d, want 1", code)
	}
	if code, stdout, _ := runWebhooks(t, "", "help"); code != 0 || !strings.Contains(stdout, "gateway webhooks verify") {
		t.Errorf("help: exit %d, %q", code, stdout)
	}
}
