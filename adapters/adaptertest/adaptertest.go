// Package adaptertest is the conformance kit every payment adapter runs. A
// Suite replays the provider's fixtures through the adapter as the host
// would (VerifyCallback, then ParseCallback or ValidateCallback), for every
// method the route accepts, and checks:
//
//   - the exact acknowledgement (JSON compared byte for byte after removing
//     insignificant whitespace; anything else byte for byte);
//   - the notices produced (every field; Raw must be the body) or the
//     quarantine, the confirmation flag, the payment reference and the
//     outcome of an asynchronous request;
//   - that a duplicate produces the same deduplication keys and the same
//     acknowledgement as its original (deduplication itself is the host's);
//   - that parsing is deterministic, never fails for a declared kind, always
//     answers 2xx, and keeps the invariants of CheckCallback;
//   - that authentication failures are *adapters.AuthError with the
//     expected status;
//   - optionally, that every file in the fixture directory is used.
//
// Fuzz targets call CheckCallback and CheckValidation on arbitrary bodies.
package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/core"
)

// Suite describes one configured instance and the fixtures to replay.
type Suite struct {
	// Config and Deps provision the instance through the registry (so the
	// adapter must be registered by the test binary's imports).
	Config adapters.InstanceConfig
	Deps   adapters.Deps
	// Dir is the fixture directory, e.g.
	// "../../../shared/testdata/providers/mpesa".
	Dir string
	// PathParams, RemoteAddr and Header are the defaults for every case.
	PathParams map[string]string
	RemoteAddr netip.Addr
	Header     http.Header
	// Accounts answers validation requests unless a case sets its own.
	Accounts adapters.AccountChecker
	// ReceivedAt stamps every request; zero means a fixed date.
	ReceivedAt time.Time

	Cases     []Case
	AuthCases []AuthCase

	// OtherFixtures are files of Dir tested elsewhere (outbound bodies,
	// API answers); they count as used.
	OtherFixtures []string
	// RequireAllFixtures fails the suite when a file of Dir is used by no
	// case, no expected answer and is not in OtherFixtures.
	RequireAllFixtures bool
}

// Case is one callback replayed through the adapter.
type Case struct {
	// Name defaults to File.
	Name string
	// File is the request body's fixture in Suite.Dir; Body is used
	// instead when File is empty.
	File string
	Body []byte
	// Kind is the route's kind.
	Kind string
	// Methods default to every method the route accepts.
	Methods []string
	// PathParams, RemoteAddr, Header and Accounts override the suite's.
	PathParams map[string]string
	RemoteAddr netip.Addr
	Header     http.Header
	Accounts   adapters.AccountChecker

	// WantAckFile is the expected answer body, a file of Suite.Dir, sent
	// with status 200. WantAck is the expected answer in full. One of
	// them is required.
	WantAckFile string
	WantAck     *adapters.Response

	// For parser routes:
	// WantNotices are compared field by field (Instance defaults to the
	// suite's instance, Raw is always the request body).
	WantNotices           []core.PaymentNotice
	WantQuarantine        bool
	WantNeedsConfirmation bool
	// WantRef and WantOutcome are checked when not nil.
	WantRef     *adapters.PaymentRef
	WantOutcome *adapters.RequestOutcome
	// DuplicateOf names an earlier case: the notices must carry the same
	// deduplication keys and the answer must be the same.
	DuplicateOf string

	// For validation routes: the provider result code sent.
	WantCode string
	// WantCheckError expects ValidateCallback to report the checker's
	// error alongside its answer.
	WantCheckError bool
}

// AuthCase is a callback that must fail verification.
type AuthCase struct {
	Name string
	// File is a body from Suite.Dir (any genuine one will do).
	File       string
	Kind       string
	Method     string
	PathParams map[string]string
	RemoteAddr netip.Addr
	Header     http.Header
	// WantStatus is the expected AuthError.Status; WantCheck its Check.
	WantStatus int
	WantCheck  string
}

// Provision provisions cfg through the registry and fails the test on error.
func Provision(t testing.TB, cfg adapters.InstanceConfig, deps adapters.Deps) adapters.Adapter {
	t.Helper()
	if _, ok := adapters.Lookup(cfg.Adapter); !ok {
		t.Fatalf("adapter %q is not registered (import its package)", cfg.Adapter)
	}
	a, err := adapters.Provision(context.Background(), cfg, deps)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return a
}

// Run provisions the suite's instance and replays every case.
func Run(t *testing.T, s Suite) {
	t.Helper()
	a := Provision(t, s.Config, s.Deps)
	instance := s.Config.Name
	if s.ReceivedAt.IsZero() {
		s.ReceivedAt = time.Date(2025, 3, 14, 6, 31, 0, 0, time.UTC)
	}
	routes := checkShape(t, a)
	t.Run("unknown kind", func(t *testing.T) {
		req := &adapters.Request{Method: "POST", Kind: "no-such-kind", Body: []byte("{}"), PathParams: s.PathParams, RemoteAddr: s.RemoteAddr, ReceivedAt: s.ReceivedAt}
		if err := a.(adapters.CallbackVerifier).VerifyCallback(context.Background(), req); !errors.Is(err, adapters.ErrUnknownKind) {
			t.Errorf("VerifyCallback: got %v, want ErrUnknownKind", err)
		}
		if p, ok := a.(adapters.CallbackParser); ok {
			if _, err := p.ParseCallback(context.Background(), req); !errors.Is(err, adapters.ErrUnknownKind) {
				t.Errorf("ParseCallback: got %v, want ErrUnknownKind", err)
			}
		}
		if v, ok := a.(adapters.CallbackValidator); ok {
			if _, err := v.ValidateCallback(context.Background(), req, s.Accounts); !errors.Is(err, adapters.ErrUnknownKind) {
				t.Errorf("ValidateCallback: got %v, want ErrUnknownKind", err)
			}
		}
	})

	used := map[string]bool{}
	for _, f := range s.OtherFixtures {
		used[f] = true
	}
	results := map[string]*adapters.CallbackResult{}
	for _, c := range s.Cases {
		name := c.Name
		if name == "" {
			name = c.File
		}
		body := c.Body
		if c.File != "" {
			body = readFixture(t, s.Dir, c.File)
			used[c.File] = true
		}
		if c.WantAckFile != "" {
			used[c.WantAckFile] = true
		}
		route, ok := routes[c.Kind]
		if !ok {
			t.Errorf("%s: the adapter declares no route %q", name, c.Kind)
			continue
		}
		methods := c.Methods
		if len(methods) == 0 {
			methods = route.Methods
		}
		for _, m := range methods {
			t.Run(name+"/"+m, func(t *testing.T) {
				if !slices.Contains(route.Methods, m) {
					t.Fatalf("route %q does not accept %s", c.Kind, m)
				}
				req := &adapters.Request{
					Method:     m,
					Path:       "/callbacks/" + instance + "/" + c.Kind,
					Kind:       c.Kind,
					PathParams: or(c.PathParams, s.PathParams),
					Header:     or(c.Header, s.Header),
					Body:       body,
					RemoteAddr: orAddr(c.RemoteAddr, s.RemoteAddr),
					ReceivedAt: s.ReceivedAt,
				}
				if err := a.(adapters.CallbackVerifier).VerifyCallback(context.Background(), req); err != nil {
					t.Fatalf("VerifyCallback: %v", err)
				}
				if route.Validation {
					runValidation(t, s, c, a.(adapters.CallbackValidator), req)
					return
				}
				res := runParse(t, s, c, a.(adapters.CallbackParser), req)
				if res == nil {
					return
				}
				if c.DuplicateOf != "" {
					orig, ok := results[c.DuplicateOf]
					if !ok {
						t.Fatalf("duplicate of %q: no such earlier case", c.DuplicateOf)
					}
					if !reflect.DeepEqual(dedupeKeys(orig.Notices), dedupeKeys(res.Notices)) {
						t.Errorf("dedupe keys %v, original %v", dedupeKeys(res.Notices), dedupeKeys(orig.Notices))
					}
					if !reflect.DeepEqual(orig.Ack, res.Ack) {
						t.Errorf("duplicate answer %q, original %q", res.Ack.Body, orig.Ack.Body)
					}
				}
				results[name] = res
			})
		}
	}

	for _, c := range s.AuthCases {
		used[c.File] = true
		t.Run("auth/"+c.Name, func(t *testing.T) {
			req := &adapters.Request{
				Method:     c.Method,
				Kind:       c.Kind,
				PathParams: or(c.PathParams, s.PathParams),
				Header:     or(c.Header, s.Header),
				Body:       readFixture(t, s.Dir, c.File),
				RemoteAddr: orAddr(c.RemoteAddr, s.RemoteAddr),
				ReceivedAt: s.ReceivedAt,
			}
			err := a.(adapters.CallbackVerifier).VerifyCallback(context.Background(), req)
			var ae *adapters.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("VerifyCallback: got %v, want an *adapters.AuthError", err)
			}
			if ae.Status != c.WantStatus || (c.WantCheck != "" && ae.Check != c.WantCheck) {
				t.Errorf("AuthError %d %s, want %d %s", ae.Status, ae.Check, c.WantStatus, c.WantCheck)
			}
		})
	}

	if s.RequireAllFixtures {
		entries, err := os.ReadDir(s.Dir)
		if err != nil {
			t.Fatalf("read fixture directory: %v", err)
		}
		for _, e := range entries {
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && !used[e.Name()] {
				t.Errorf("fixture %s is not used by the suite", e.Name())
			}
		}
	}
}

// checkShape checks the adapter's capabilities and routes, and returns the
// routes by kind.
func checkShape(t *testing.T, a adapters.Adapter) map[string]adapters.Route {
	t.Helper()
	r, ok := a.(adapters.CallbackRouter)
	if !ok {
		t.Fatalf("%T does not implement adapters.CallbackRouter", a)
	}
	if _, ok := a.(adapters.CallbackVerifier); !ok {
		t.Fatalf("%T does not implement adapters.CallbackVerifier", a)
	}
	routes := map[string]adapters.Route{}
	for _, rt := range r.CallbackRoutes() {
		if rt.Kind == "" || strings.Contains(rt.Kind, "/") {
			t.Errorf("route kind %q: want one non-empty path segment", rt.Kind)
		}
		if _, dup := routes[rt.Kind]; dup {
			t.Errorf("route kind %q declared twice", rt.Kind)
		}
		if len(rt.Methods) == 0 {
			t.Errorf("route %q: no methods", rt.Kind)
		}
		if rt.Validation {
			if _, ok := a.(adapters.CallbackValidator); !ok {
				t.Errorf("route %q is a validation route but %T is not a CallbackValidator", rt.Kind, a)
			}
		} else if _, ok := a.(adapters.CallbackParser); !ok {
			t.Errorf("route %q needs a CallbackParser, %T is not one", rt.Kind, a)
		}
		routes[rt.Kind] = rt
	}
	if len(routes) == 0 {
		t.Fatalf("%T declares no callback routes", a)
	}
	return routes
}

func runParse(t *testing.T, s Suite, c Case, p adapters.CallbackParser, req *adapters.Request) *adapters.CallbackResult {
	t.Helper()
	res := CheckCallback(t, p, s.Config.Name, req)
	if res == nil {
		return nil
	}
	again, err := p.ParseCallback(context.Background(), req)
	if err != nil || !reflect.DeepEqual(res, again) {
		t.Errorf("parsing the same request twice gave different results")
	}
	checkAck(t, s.Dir, c, res.Ack)
	if got := res.Quarantine != nil; got != c.WantQuarantine {
		t.Errorf("quarantine: got %v, want %v", res.Quarantine, c.WantQuarantine)
	}
	if res.NeedsConfirmation != c.WantNeedsConfirmation {
		t.Errorf("NeedsConfirmation: got %v, want %v", res.NeedsConfirmation, c.WantNeedsConfirmation)
	}
	if c.WantRef != nil && res.Ref != *c.WantRef {
		t.Errorf("Ref: got %+v, want %+v", res.Ref, *c.WantRef)
	}
	if c.WantOutcome != nil {
		if res.Outcome == nil || *res.Outcome != *c.WantOutcome {
			t.Errorf("Outcome: got %+v, want %+v", res.Outcome, *c.WantOutcome)
		}
	} else if res.Outcome != nil {
		t.Errorf("Outcome: got %+v, want none", *res.Outcome)
	}
	if len(res.Notices) != len(c.WantNotices) {
		t.Fatalf("got %d notices, want %d: %+v", len(res.Notices), len(c.WantNotices), res.Notices)
	}
	for i, want := range c.WantNotices {
		if want.Instance == "" {
			want.Instance = s.Config.Name
		}
		want.Raw = req.Body
		if d := DiffNotice(res.Notices[i], want); d != "" {
			t.Errorf("notice %d: %s", i, d)
		}
	}
	return res
}

func runValidation(t *testing.T, s Suite, c Case, v adapters.CallbackValidator, req *adapters.Request) {
	t.Helper()
	accounts := c.Accounts
	if accounts == nil {
		accounts = s.Accounts
	}
	res, err := v.ValidateCallback(context.Background(), req, accounts)
	if (err != nil) != c.WantCheckError {
		t.Fatalf("ValidateCallback error %v, want error: %v", err, c.WantCheckError)
	}
	if res == nil {
		t.Fatalf("ValidateCallback returned no result (error %v)", err)
	}
	checkValidationInvariants(t, s.Config.Name, req, res)
	checkAck(t, s.Dir, c, res.Ack)
	if c.WantCode != "" && res.Code != c.WantCode {
		t.Errorf("code %q, want %q (reason %q)", res.Code, c.WantCode, res.Reason)
	}
	if len(c.WantNotices) > 0 {
		want := c.WantNotices[0]
		if want.Instance == "" {
			want.Instance = s.Config.Name
		}
		want.Raw = req.Body
		if d := DiffNotice(res.Notice, want); d != "" {
			t.Errorf("notice: %s", d)
		}
	}
}

// checkAck compares an answer with the case's expectation.
func checkAck(t *testing.T, dir string, c Case, got adapters.Response) {
	t.Helper()
	want := c.WantAck
	if c.WantAckFile != "" {
		want = &adapters.Response{Status: 200, Body: readFixture(t, dir, c.WantAckFile)}
		if json.Valid(want.Body) {
			want.ContentType = "application/json"
		}
	}
	if want == nil {
		t.Fatalf("case has neither WantAckFile nor WantAck")
	}
	if got.Status != want.Status {
		t.Errorf("answer status %d, want %d", got.Status, want.Status)
	}
	if want.ContentType != "" && !strings.HasPrefix(got.ContentType, want.ContentType) {
		t.Errorf("answer content type %q, want %q", got.ContentType, want.ContentType)
	}
	if !SameBody(got.Body, want.Body) {
		t.Errorf("answer body %q, want %q", got.Body, want.Body)
	}
}

// SameBody reports whether two bodies are equal: JSON byte for byte after
// removing insignificant whitespace (key order matters), anything else
// byte for byte.
func SameBody(got, want []byte) bool {
	if json.Valid(want) {
		var g, w bytes.Buffer
		if json.Compact(&g, got) != nil || json.Compact(&w, want) != nil {
			return false
		}
		return bytes.Equal(g.Bytes(), w.Bytes())
	}
	return bytes.Equal(got, want)
}

// CheckCallback parses req and checks the invariants every parser keeps,
// whatever the body: no error for a declared kind; an answer with a 2xx
// status; a quarantine has a reason and no notices; every notice belongs
// to instance, keeps the body as Raw, has a known status, and an
// idempotency key; succeeded and reversed notices have a positive amount
// in a valid currency and a provider transaction id. It returns the
// result, or nil after reporting an error.
func CheckCallback(t testing.TB, p adapters.CallbackParser, instance string, req *adapters.Request) *adapters.CallbackResult {
	t.Helper()
	res, err := p.ParseCallback(context.Background(), req)
	if err != nil {
		t.Errorf("ParseCallback: %v", err)
		return nil
	}
	if res == nil {
		t.Errorf("ParseCallback: nil result")
		return nil
	}
	if res.Ack.Status < 200 || res.Ack.Status > 299 {
		t.Errorf("answer status %d: a genuine callback always gets 2xx", res.Ack.Status)
	}
	if q := res.Quarantine; q != nil {
		if q.Reason == "" {
			t.Errorf("quarantine without a reason")
		}
		if len(res.Notices) > 0 || res.NeedsConfirmation || res.Outcome != nil {
			t.Errorf("quarantined result with notices, confirmation or outcome: %+v", res)
		}
	}
	if o := res.Outcome; o != nil {
		switch o.Result {
		case adapters.OutcomeSucceeded, adapters.OutcomeFailed, adapters.OutcomeTimedOut, adapters.OutcomeAlreadyDone:
		default:
			t.Errorf("outcome result %q", o.Result)
		}
		if o.Operation == "" {
			t.Errorf("outcome without an operation")
		}
	}
	for i, n := range res.Notices {
		checkNotice(t, i, instance, req.Body, n)
	}
	return res
}

func checkNotice(t testing.TB, i int, instance string, body []byte, n core.PaymentNotice) {
	t.Helper()
	if n.Instance != instance {
		t.Errorf("notice %d: instance %q, want %q", i, n.Instance, instance)
	}
	if !bytes.Equal(n.Raw, body) {
		t.Errorf("notice %d: Raw is not the request body", i)
	}
	switch n.Status {
	case core.NoticeSucceeded, core.NoticeReversed:
		if n.ProviderTxID == "" {
			t.Errorf("notice %d: %s without a ProviderTxID", i, n.Status)
		}
		if !n.Amount.IsPositive() || n.Amount.Currency.Validate() != nil {
			t.Errorf("notice %d: %s with amount %v", i, n.Status, n.Amount)
		}
	case core.NoticeFailed, core.NoticePending:
		if n.ProviderTxID == "" && n.RequestID == "" {
			t.Errorf("notice %d: %s with neither ProviderTxID nor RequestID", i, n.Status)
		}
		if n.Amount.IsNegative() {
			t.Errorf("notice %d: negative amount %v", i, n.Amount)
		}
	default:
		t.Errorf("notice %d: status %q", i, n.Status)
	}
}

// CheckValidation runs a validation request and checks that there is
// always an answer with a 2xx status and a code, and that the notice is
// pending and keeps the body.
func CheckValidation(t testing.TB, v adapters.CallbackValidator, instance string, req *adapters.Request, accounts adapters.AccountChecker) *adapters.ValidationResult {
	t.Helper()
	res, err := v.ValidateCallback(context.Background(), req, accounts)
	if res == nil {
		t.Errorf("ValidateCallback: no result (error %v)", err)
		return nil
	}
	checkValidationInvariants(t, instance, req, res)
	return res
}

func checkValidationInvariants(t testing.TB, instance string, req *adapters.Request, res *adapters.ValidationResult) {
	t.Helper()
	if res.Ack.Status < 200 || res.Ack.Status > 299 {
		t.Errorf("validation answer status %d, want 2xx", res.Ack.Status)
	}
	if res.Code == "" {
		t.Errorf("validation result without a code")
	}
	if res.Notice.Status != core.NoticePending {
		t.Errorf("validation notice status %q, want pending", res.Notice.Status)
	}
	if res.Notice.Instance != instance || !bytes.Equal(res.Notice.Raw, req.Body) {
		t.Errorf("validation notice: instance %q or Raw not the body", res.Notice.Instance)
	}
}

// DedupeKey is what the host deduplicates a notice on.
type DedupeKey struct {
	Instance, ProviderTxID, RequestID string
	Status                            core.NoticeStatus
}

func dedupeKeys(ns []core.PaymentNotice) []DedupeKey {
	out := make([]DedupeKey, len(ns))
	for i, n := range ns {
		out[i] = DedupeKey{n.Instance, n.ProviderTxID, n.RequestID, n.Status}
	}
	return out
}

// DiffNotice describes how got differs from want, field by field (times
// compared with Equal), or returns "".
func DiffNotice(got, want core.PaymentNotice) string {
	var d []string
	add := func(field string, g, w any) {
		d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w))
	}
	if got.Instance != want.Instance {
		add("Instance", got.Instance, want.Instance)
	}
	if got.ProviderTxID != want.ProviderTxID {
		add("ProviderTxID", got.ProviderTxID, want.ProviderTxID)
	}
	if got.RequestID != want.RequestID {
		add("RequestID", got.RequestID, want.RequestID)
	}
	if got.Status != want.Status {
		add("Status", got.Status, want.Status)
	}
	if got.Amount != want.Amount {
		add("Amount", got.Amount, want.Amount)
	}
	if got.AccountRef != want.AccountRef {
		add("AccountRef", fmt.Sprintf("%q", got.AccountRef), fmt.Sprintf("%q", want.AccountRef))
	}
	if got.PayerMSISDN != want.PayerMSISDN {
		add("PayerMSISDN", fmt.Sprintf("%q", got.PayerMSISDN), fmt.Sprintf("%q", want.PayerMSISDN))
	}
	if got.PayerMSISDNHash != want.PayerMSISDNHash {
		add("PayerMSISDNHash", got.PayerMSISDNHash, want.PayerMSISDNHash)
	}
	if got.PayerName != want.PayerName {
		add("PayerName", fmt.Sprintf("%q", got.PayerName), fmt.Sprintf("%q", want.PayerName))
	}
	if !got.OccurredAt.Equal(want.OccurredAt) {
		add("OccurredAt", got.OccurredAt, want.OccurredAt)
	}
	if got.Reason != want.Reason {
		add("Reason", fmt.Sprintf("%q", got.Reason), fmt.Sprintf("%q", want.Reason))
	}
	if !bytes.Equal(got.Raw, want.Raw) {
		add("Raw", fmt.Sprintf("%d bytes", len(got.Raw)), fmt.Sprintf("%d bytes", len(want.Raw)))
	}
	return strings.Join(d, "; ")
}

// ReadFixture reads a fixture file and fails the test if it is missing.
func ReadFixture(t testing.TB, dir, name string) []byte {
	t.Helper()
	return readFixture(t, dir, name)
}

func readFixture(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// AddSeeds adds every named fixture of dir to a fuzz corpus, plus a few
// hostile bodies.
func AddSeeds(f *testing.F, dir string, names ...string) {
	f.Helper()
	for _, n := range names {
		f.Add(readFixture(f, dir, n))
	}
	for _, s := range []string{"", "null", "[]", "{}", `{"Body":null}`, `"x"`, "{", `{"Result":{"ResultParameters":7}}`} {
		f.Add([]byte(s))
	}
}

// FixtureNames returns the names of the files in dir with the prefix.
func FixtureNames(t testing.TB, dir, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read fixture directory: %v", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Accounts is a fake adapters.AccountChecker: the accounts in Known exist,
// an empty reference (till payments) is accepted, amounts below Min (when
// positive) are refused for their amount, and Err, when set, is returned
// instead of a decision.
type Accounts struct {
	Known map[string]bool
	Min   core.Money
	Err   error
}

// CheckAccount implements adapters.AccountChecker.
func (a Accounts) CheckAccount(ctx context.Context, q adapters.AccountQuery) (adapters.AccountDecision, error) {
	switch {
	case a.Err != nil:
		return adapters.AccountDecision{}, a.Err
	case q.AccountRef != "" && !a.Known[q.AccountRef]:
		return adapters.AccountDecision{Verdict: adapters.AccountUnknown, Reason: "no account " + q.AccountRef}, nil
	case a.Min.IsPositive() && q.Amount.Amount < a.Min.Amount:
		return adapters.AccountDecision{Verdict: adapters.AccountAmountRejected, Reason: "below the minimum instalment"}, nil
	}
	return adapters.AccountDecision{Verdict: adapters.AccountAccepted}, nil
}

func or[T any](v, def T) T {
	if reflect.ValueOf(&v).Elem().IsZero() {
		return def
	}
	return v
}

func orAddr(v, def netip.Addr) netip.Addr {
	if v.IsValid() {
		return v
	}
	return def
}
