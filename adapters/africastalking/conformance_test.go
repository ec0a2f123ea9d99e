package africastalking_test

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/adapters/africastalking"
)

// fixtureDir holds the shared Africa's Talking fixtures.
const fixtureDir = "../../../shared/testdata/providers/africastalking"

const (
	instance = "sms-at"
	secret   = "test-at-dlr-secret-0123456789"
)

// atAddr is in the allow-list the tests configure.
var atAddr = netip.MustParseAddr("192.0.2.20")

func config(extra map[string]any) adapters.InstanceConfig {
	s := map[string]any{
		"username":        "sandbox",
		"sandbox":         true,
		"api_key":         "test-at-api-key",
		"from":            "SOLARTEST",
		"enqueue":         true,
		"callback_secret": secret,
		"allowed_cidrs":   []any{"192.0.2.0/24"},
	}
	for k, v := range extra {
		if v == nil {
			delete(s, k)
			continue
		}
		s[k] = v
	}
	return adapters.InstanceConfig{Name: instance, Adapter: africastalking.ID, Settings: s} // no currency: SMS moves no money
}

var (
	ack     = adapters.Response{Status: 200}
	params  = map[string]string{"secret": secret}
	sendOut = []string{"send_sms_request.txt", "send_sms_response_success.json", "send_sms_response_mixed.json", "send_sms_response_insufficient_balance.json"}
)

const (
	id1 = "ATXid_00000000000000000000000000000001"
	id2 = "ATXid_00000000000000000000000000000002"
	id3 = "ATXid_00000000000000000000000000000003"
)

// dlrCases are the delivery report fixtures of the README with the exact
// result the adapter gives. Unknown ids, duplicates and reports arriving
// after a final state are the message store's to ignore: the adapter
// reports each faithfully.
var dlrCases = []struct {
	file string
	want adapters.CallbackResult
}{
	{"dlr_success.txt", adapters.CallbackResult{Ack: ack, Deliveries: []adapters.DeliveryReport{
		{ProviderID: id1, State: adapters.SMSDelivered, ProviderStatus: "Success"}}}},
	{"dlr_duplicate.txt", adapters.CallbackResult{Ack: ack, Deliveries: []adapters.DeliveryReport{
		{ProviderID: id1, State: adapters.SMSDelivered, ProviderStatus: "Success"}}}},
	{"dlr_buffered.txt", adapters.CallbackResult{Ack: ack, Deliveries: []adapters.DeliveryReport{
		{ProviderID: id2, State: adapters.SMSSent, ProviderStatus: "Buffered"}}}},
	{"dlr_failed_delivery_failure.txt", adapters.CallbackResult{Ack: ack, Deliveries: []adapters.DeliveryReport{
		{ProviderID: id2, State: adapters.SMSFailed, ProviderStatus: "Failed", Reason: "DeliveryFailure"}}}},
	{"dlr_rejected_blacklist.txt", adapters.CallbackResult{Ack: ack, Deliveries: []adapters.DeliveryReport{
		{ProviderID: id3, State: adapters.SMSRejected, ProviderStatus: "Rejected", Reason: "UserInBlackList"}}}},
	{"dlr_out_of_order_after_final.txt", adapters.CallbackResult{Ack: ack, Deliveries: []adapters.DeliveryReport{
		{ProviderID: id1, State: adapters.SMSSent, ProviderStatus: "Sent"}}}},
	{"dlr_unknown_id.txt", adapters.CallbackResult{Ack: ack, Deliveries: []adapters.DeliveryReport{
		{ProviderID: "ATXid_ffffffffffffffffffffffffffffffff", State: adapters.SMSDelivered, ProviderStatus: "Success"}}}},
	{"dlr_malformed_missing_id.txt", adapters.CallbackResult{Ack: ack,
		Quarantine: &adapters.Quarantine{Reason: "africastalking: delivery report: no id"}}},
}

func provisionDLR(t *testing.T) adapters.Adapter {
	t.Helper()
	return adaptertest.Provision(t, config(nil), adapters.Deps{})
}

func dlrRequest(body []byte) *adapters.Request {
	return &adapters.Request{Method: "POST", Path: "/callbacks/" + instance + "/delivery-report/" + secret, Kind: africastalking.KindDeliveryReport,
		PathParams: params, Body: body, RemoteAddr: atAddr}
}

// TestDeliveryReportFixtures replays every delivery report fixture as the
// host would (verify, then parse) and compares the whole result.
func TestDeliveryReportFixtures(t *testing.T) {
	a := provisionDLR(t)
	for _, c := range dlrCases {
		t.Run(c.file, func(t *testing.T) {
			req := dlrRequest(adaptertest.ReadFixture(t, fixtureDir, c.file))
			if err := a.(adapters.CallbackVerifier).VerifyCallback(context.Background(), req); err != nil {
				t.Fatalf("VerifyCallback: %v", err)
			}
			res, err := a.(adapters.CallbackParser).ParseCallback(context.Background(), req)
			if err != nil {
				t.Fatalf("ParseCallback: %v", err)
			}
			if !reflect.DeepEqual(*res, c.want) {
				t.Errorf("result\n got %+v\nwant %+v", *res, c.want)
			}
			for _, d := range res.Deliveries {
				if d.State == adapters.SMSRetry {
					t.Errorf("a delivery report is never retry")
				}
			}
		})
	}
}

// TestConformance runs the shared conformance kit (shape, unknown kind,
// answers, quarantine, determinism, authentication failures, every fixture
// used). Deliveries are checked by TestDeliveryReportFixtures.
func TestConformance(t *testing.T) {
	s := adaptertest.Suite{
		Config:             config(nil),
		Dir:                fixtureDir,
		PathParams:         params,
		RemoteAddr:         atAddr,
		RequireAllFixtures: true,
		OtherFixtures:      sendOut,
		AuthCases: []adaptertest.AuthCase{
			{Name: "wrong secret", File: "dlr_success.txt", Kind: africastalking.KindDeliveryReport, Method: "POST",
				PathParams: map[string]string{"secret": "test-at-dlr-secret-0123456788"}, WantStatus: 404, WantCheck: "path_secret"},
			{Name: "no secret", File: "dlr_success.txt", Kind: africastalking.KindDeliveryReport, Method: "POST",
				PathParams: map[string]string{"secret": ""}, WantStatus: 404, WantCheck: "path_secret"},
			{Name: "outside the allow-list", File: "dlr_success.txt", Kind: africastalking.KindDeliveryReport, Method: "POST",
				RemoteAddr: netip.MustParseAddr("203.0.113.7"), WantStatus: 403, WantCheck: "source_ip"},
		},
	}
	for _, c := range dlrCases {
		ack := c.want.Ack
		s.Cases = append(s.Cases, adaptertest.Case{File: c.file, Kind: africastalking.KindDeliveryReport, WantAck: &ack,
			WantQuarantine: c.want.Quarantine != nil})
	}
	adaptertest.Run(t, s)
}

// TestDeliveryReportBodies covers hostile and unusual bodies.
func TestDeliveryReportBodies(t *testing.T) {
	a := provisionDLR(t).(adapters.CallbackParser)
	for _, c := range []struct {
		name, body string
		want       *adapters.DeliveryReport // nil: quarantined
	}{
		{"submitted", "id=X1&status=Submitted", &adapters.DeliveryReport{ProviderID: "X1", State: adapters.SMSSent, ProviderStatus: "Submitted"}},
		{"unknown status", "id=X1&status=Expired", &adapters.DeliveryReport{ProviderID: "X1", State: adapters.SMSAccepted, ProviderStatus: "Expired"}},
		{"lower case", "id=X1&status=success", &adapters.DeliveryReport{ProviderID: "X1", State: adapters.SMSDelivered, ProviderStatus: "success"}},
		{"without retryCount", "id=X1&status=Failed&failureReason=UserIsInactive", &adapters.DeliveryReport{ProviderID: "X1", State: adapters.SMSFailed, ProviderStatus: "Failed", Reason: "UserIsInactive"}},
		{"no status", "id=X1", nil},
		{"empty id", "id=&status=Success", nil},
		{"id twice", "id=X1&id=X2&status=Success", nil},
		{"status twice", "id=X1&status=Sent&status=Success", nil},
		{"not a form", "id=%zz&status=Success", nil},
		{"JSON", `{"id":"X1","status":"Success"}`, nil},
		{"empty", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := a.ParseCallback(context.Background(), dlrRequest([]byte(c.body)))
			if err != nil {
				t.Fatalf("ParseCallback: %v", err)
			}
			if !reflect.DeepEqual(res.Ack, ack) {
				t.Errorf("answer %+v", res.Ack)
			}
			if c.want == nil {
				if res.Quarantine == nil || len(res.Deliveries) > 0 {
					t.Errorf("want a quarantine and no deliveries, got %+v", res)
				}
				return
			}
			if res.Quarantine != nil || len(res.Deliveries) != 1 || res.Deliveries[0] != *c.want {
				t.Errorf("got %+v, want %+v", res, *c.want)
			}
		})
	}
}

func TestUnknownKind(t *testing.T) {
	a := provisionDLR(t)
	req := dlrRequest([]byte("id=X1&status=Success"))
	req.Kind = "incoming"
	if _, err := a.(adapters.CallbackParser).ParseCallback(context.Background(), req); !errors.Is(err, adapters.ErrUnknownKind) {
		t.Errorf("ParseCallback: %v", err)
	}
}

func TestSettings(t *testing.T) {
	for _, c := range []struct {
		name  string
		extra map[string]any
		want  string // "" for success; else a substring of the error
	}{
		{"sandbox", nil, ""},
		{"production", map[string]any{"sandbox": false, "username": "solarco"}, ""},
		{"sandbox with another username", map[string]any{"username": "solarco"}, "settings.username"},
		{"production with the sandbox username", map[string]any{"sandbox": false}, "settings.username"},
		{"no username", map[string]any{"username": nil}, "settings.username: required"},
		{"no api key", map[string]any{"api_key": nil}, "settings.api_key: required"},
		{"api key from a missing variable", map[string]any{"api_key": "env:AT_TEST_NO_SUCH_VARIABLE"}, "settings.api_key"},
		{"no callback secret", map[string]any{"callback_secret": nil}, "settings.callback_secret: required"},
		{"short callback secret", map[string]any{"callback_secret": "short"}, "settings.callback_secret"},
		{"bad cidr", map[string]any{"allowed_cidrs": []any{"nope"}}, "settings.allowed_cidrs[0]"},
		{"bad base url", map[string]any{"base_url": "ftp://x"}, "settings.base_url"},
		{"comma in from", map[string]any{"from": "A,B"}, "settings.from"},
		{"unknown setting", map[string]any{"apikey": "x"}, "settings.apikey: unknown setting"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := adapters.Provision(context.Background(), config(c.extra), adapters.Deps{})
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Provision: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Provision: got %v, want an error with %q", err, c.want)
			}
		})
	}
}
