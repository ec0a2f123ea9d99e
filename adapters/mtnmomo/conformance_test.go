package mtnmomo_test

import (
	"net/netip"
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/adapters/mtnmomo"
	"github.com/payg-gateway/gateway/core"
)

// fixtureDir holds the shared MTN MoMo fixtures.
const fixtureDir = "../../../shared/testdata/providers/mtn"

const (
	instance    = "mtn-ug"
	callbackKey = "test-mtn-callback-key-0123456789abcdef"
	apiUser     = "5d3c2b1a-0f9e-4d8c-8b7a-6a5b4c3d2e1f"
	reference   = "0f7b0a3e-8e3c-4b8a-9d3a-2b1f4c5d6e7f"
)

// mtnAddr is in the allow-list the tests configure; MTN publishes no
// callback addresses, so the list is the operator's.
var mtnAddr = netip.MustParseAddr("192.0.2.10")

func config(extra map[string]any) adapters.InstanceConfig {
	s := map[string]any{
		"target_environment": "mtnuganda",
		"api_user":           apiUser,
		"api_key":            "test-api-key",
		"subscription_key":   "test-subscription-key",
		"callback_key":       callbackKey,
		"callback_base_url":  "https://gateway.example.com/callbacks/mtn-ug",
		"allowed_cidrs":      []any{"192.0.2.0/24"},
	}
	for k, v := range extra {
		s[k] = v
	}
	return adapters.InstanceConfig{Name: instance, Adapter: mtnmomo.ID, Currency: "UGX", Settings: s}
}

func ugx(n int64) core.Money { return core.NewMoney(n, "UGX") }

func params(ref string) map[string]string {
	return map[string]string{"reference": ref, "token": adapters.PathToken(callbackKey, ref, 32)}
}

// ack is MTN's acknowledgement: 200 with an empty body.
var ack = &adapters.Response{Status: 200}

// TestConformance replays every MTN callback fixture of the README, by PUT
// and by POST.
func TestConformance(t *testing.T) {
	ok := core.PaymentNotice{ProviderTxID: "1000000001", RequestID: "PAY-000123", Status: core.NoticeSucceeded, Amount: ugx(50000), PayerMSISDN: "256770000101"}
	ref := func(requestID, txID string) *adapters.PaymentRef {
		return &adapters.PaymentRef{RequestID: requestID, ProviderRef: reference, ProviderTxID: txID}
	}
	adaptertest.Run(t, adaptertest.Suite{
		Config:             config(nil),
		Dir:                fixtureDir,
		PathParams:         params(reference),
		RemoteAddr:         mtnAddr,
		RequireAllFixtures: true,
		OtherFixtures:      []string{"requesttopay_request_body.json", "token_response.json", "getstatus_response_pending.json"},
		Cases: []adaptertest.Case{
			{Name: "successful", File: "requesttopay_callback_successful.json", Kind: mtnmomo.KindRequestToPay, WantAck: ack,
				WantNotices: []core.PaymentNotice{ok}, WantNeedsConfirmation: true, WantRef: ref("PAY-000123", "1000000001")},
			{File: "requesttopay_callback_duplicate.json", Kind: mtnmomo.KindRequestToPay, WantAck: ack,
				WantNotices: []core.PaymentNotice{ok}, WantNeedsConfirmation: true, DuplicateOf: "successful"},
			{File: "requesttopay_callback_failed_reason_string.json", Kind: mtnmomo.KindRequestToPay, WantAck: ack, WantNeedsConfirmation: true,
				WantNotices: []core.PaymentNotice{{RequestID: "PAY-000124", Status: core.NoticeFailed, Amount: ugx(50000), PayerMSISDN: "256770000101", Reason: "NOT_ENOUGH_FUNDS"}},
				WantRef:     ref("PAY-000124", "")},
			{File: "requesttopay_callback_failed_reason_object.json", Kind: mtnmomo.KindRequestToPay, WantAck: ack, WantNeedsConfirmation: true,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "1000000002", RequestID: "PAY-000125", Status: core.NoticeFailed, Amount: ugx(50000), PayerMSISDN: "256770000101",
					Reason: "PAYER_NOT_FOUND: Payee does not exist"}}},
			{File: "requesttopay_callback_failed_timeout.json", Kind: mtnmomo.KindRequestToPay, WantAck: ack, WantNeedsConfirmation: true,
				WantNotices: []core.PaymentNotice{{RequestID: "PAY-000126", Status: core.NoticeFailed, Amount: ugx(50000), PayerMSISDN: "256770000101", Reason: "COULD_NOT_PERFORM_TRANSACTION"}}},
			{File: "requesttopay_callback_malformed_missing_status.json", Kind: mtnmomo.KindRequestToPay, WantAck: ack,
				WantQuarantine: true, WantRef: ref("PAY-000127", "1000000003")},
			{File: "requesttopay_callback_malformed_amount.json", Kind: mtnmomo.KindRequestToPay, WantAck: ack,
				WantQuarantine: true, WantRef: ref("PAY-000129", "1000000006")},
			// The adapter reports what MTN says; the host compares the
			// amount with the attempt (50000) and the confirmed status.
			{File: "requesttopay_callback_amount_mismatch.json", Kind: mtnmomo.KindRequestToPay, WantAck: ack, WantNeedsConfirmation: true,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "1000000004", RequestID: "PAY-000128", Status: core.NoticeSucceeded, Amount: ugx(5000), PayerMSISDN: "256770000101"}}},
			// Not ours: the host finds no attempt PAY-999999 and alerts.
			{File: "requesttopay_callback_unknown_externalid.json", Kind: mtnmomo.KindRequestToPay, WantAck: ack, WantNeedsConfirmation: true,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "1000000005", RequestID: "PAY-999999", Status: core.NoticeSucceeded, Amount: ugx(50000), PayerMSISDN: "256770000101"}}},
			{Name: "unknown status", Body: []byte(`{"externalId":"PAY-000130","amount":"50000","currency":"UGX","status":"ONGOING"}`), Kind: mtnmomo.KindRequestToPay,
				WantAck: ack, WantNeedsConfirmation: true,
				WantNotices: []core.PaymentNotice{{RequestID: "PAY-000130", Status: core.NoticePending, Amount: ugx(50000), Reason: "unknown status ONGOING"}}},
			{Name: "successful without financialTransactionId", Body: []byte(`{"externalId":"PAY-000130","amount":"50000","currency":"UGX","status":"SUCCESSFUL"}`),
				Kind: mtnmomo.KindRequestToPay, WantAck: ack, WantQuarantine: true},
			{Name: "not JSON", Body: []byte(`status=SUCCESSFUL`), Kind: mtnmomo.KindRequestToPay, WantAck: ack, WantQuarantine: true},
		},
		AuthCases: []adaptertest.AuthCase{
			{Name: "wrong token", File: "requesttopay_callback_successful.json", Kind: mtnmomo.KindRequestToPay, Method: "PUT",
				PathParams: map[string]string{"reference": reference, "token": "00000000000000000000000000000000"}, WantStatus: 404, WantCheck: "path_token"},
			{Name: "token of another reference", File: "requesttopay_callback_successful.json", Kind: mtnmomo.KindRequestToPay, Method: "POST",
				PathParams: map[string]string{"reference": "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b", "token": params(reference)["token"]}, WantStatus: 404, WantCheck: "path_token"},
			{Name: "no reference", File: "requesttopay_callback_successful.json", Kind: mtnmomo.KindRequestToPay, Method: "POST",
				PathParams: map[string]string{"token": params("")["token"]}, WantStatus: 404, WantCheck: "path_token"},
			{Name: "outside the allow-list", File: "requesttopay_callback_successful.json", Kind: mtnmomo.KindRequestToPay, Method: "PUT",
				RemoteAddr: netip.MustParseAddr("203.0.113.7"), WantStatus: 403, WantCheck: "source_ip"},
		},
	})
}

// TestConformanceWithoutConfirmation: with confirm_by_status_query false,
// callback notices are applied as they are.
func TestConformanceWithoutConfirmation(t *testing.T) {
	adaptertest.Run(t, adaptertest.Suite{
		Config:     config(map[string]any{"confirm_by_status_query": false}),
		Dir:        fixtureDir,
		PathParams: params(reference),
		RemoteAddr: mtnAddr,
		Cases: []adaptertest.Case{
			{File: "requesttopay_callback_successful.json", Kind: mtnmomo.KindRequestToPay, WantAck: ack,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "1000000001", RequestID: "PAY-000123", Status: core.NoticeSucceeded, Amount: ugx(50000), PayerMSISDN: "256770000101"}}},
		},
	})
}
