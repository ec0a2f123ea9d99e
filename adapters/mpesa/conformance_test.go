package mpesa_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/adapters"
	"github.com/payg-gateway/gateway/adapters/adaptertest"
	"github.com/payg-gateway/gateway/adapters/mpesa"
	"github.com/payg-gateway/gateway/core"
)

// fixtureDir holds the shared Daraja fixtures.
const fixtureDir = "../../../shared/testdata/providers/mpesa"

const (
	instance = "ke-paybill"
	secret   = "Zq4rT7yPp2Lk9WnB5vXc"
)

var safaricomAddr = netip.MustParseAddr("196.201.214.200")

func config(extra map[string]any) adapters.InstanceConfig {
	s := map[string]any{
		"short_code":      "600123",
		"callback_secret": secret,
	}
	for k, v := range extra {
		s[k] = v
	}
	return adapters.InstanceConfig{Name: instance, Adapter: mpesa.ID, Currency: "KES", Settings: s}
}

func kes(shillings int64) core.Money { return core.NewMoney(shillings*100, "KES") }

// eat returns a Kenyan wall-clock time as UTC.
func eat(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h-3, mi, s, 0, time.UTC)
}

var accounts = adaptertest.Accounts{Known: map[string]bool{"AC100234": true}}

const (
	masked = "2547 ***** 123"
	// phoneHash is sha256_hex("254700000123"), the fixtures' CRM phone.
	phoneHash = "54f65df3bfa35fabd44ff4249b6b9eaf2bb1168c1f55fc205812a27676e1a19d"
)

func TestFixtureHashIsTheCRMPhone(t *testing.T) {
	sum := sha256.Sum256([]byte("254700000123"))
	if got := hex.EncodeToString(sum[:]); got != phoneHash {
		t.Fatalf("sha256(254700000123) = %s, the fixtures' README says %s", got, phoneHash)
	}
}

// TestConformance replays every Daraja fixture of the README.
func TestConformance(t *testing.T) {
	const ack = "response_callback_ack.json"
	stkOK := core.PaymentNotice{
		ProviderTxID: "TEST0S1T2K",
		RequestID:    "ws_CO_14032025093000000700000123",
		Status:       core.NoticeSucceeded,
		Amount:       kes(1500),
		PayerMSISDN:  "254700000123",
		OccurredAt:   eat(2025, 3, 14, 9, 30, 45),
	}
	c2bOK := core.PaymentNotice{
		ProviderTxID: "TEST0A1B2C",
		Status:       core.NoticeSucceeded,
		Amount:       kes(1500),
		AccountRef:   "AC100234",
		PayerMSISDN:  masked,
		PayerName:    "JANE",
		OccurredAt:   eat(2025, 3, 14, 9, 30, 15),
	}
	failed := func(checkout, reason string) []core.PaymentNotice {
		return []core.PaymentNotice{{RequestID: checkout, Status: core.NoticeFailed, Reason: reason}}
	}
	adaptertest.Run(t, adaptertest.Suite{
		Config:             config(map[string]any{"validation_min_amount": "50"}),
		Dir:                fixtureDir,
		PathParams:         map[string]string{"secret": secret},
		RemoteAddr:         safaricomAddr,
		Accounts:           accounts,
		RequireAllFixtures: true,
		Cases: []adaptertest.Case{
			// C2B validation.
			{File: "c2b_validation_paybill_ok.json", Kind: mpesa.KindC2BValidation, WantAckFile: "response_validation_accept.json", WantCode: "0",
				WantNotices: []core.PaymentNotice{{ProviderTxID: "TEST0A1B2C", Status: core.NoticePending, Amount: kes(1500), AccountRef: "AC100234", PayerMSISDN: masked, PayerName: "JANE", OccurredAt: eat(2025, 3, 14, 9, 30, 15)}}},
			{File: "c2b_validation_unknown_account.json", Kind: mpesa.KindC2BValidation, WantAckFile: "response_validation_reject_invalid_account.json", WantCode: "C2B00012"},
			{Name: "below minimum, instance minimum 50", File: "c2b_validation_amount_below_policy_minimum.json", Kind: mpesa.KindC2BValidation,
				WantAckFile: "response_validation_reject_invalid_amount.json", WantCode: "C2B00013"},
			{Name: "below minimum, host minimum 50", File: "c2b_validation_amount_below_policy_minimum.json", Kind: mpesa.KindC2BValidation,
				Accounts: adaptertest.Accounts{Known: accounts.Known, Min: kes(50)}, WantAckFile: "response_validation_reject_invalid_amount.json", WantCode: "C2B00013"},
			{Name: "checker fails, reject", File: "c2b_validation_paybill_ok.json", Kind: mpesa.KindC2BValidation,
				Accounts: adaptertest.Accounts{Err: errors.New("store down")}, WantCheckError: true,
				WantAck: &adapters.Response{Status: 200, ContentType: "application/json", Body: []byte(`{"ResultCode":"C2B00016","ResultDesc":"Rejected"}`)}, WantCode: "C2B00016"},
			{Name: "malformed validation", File: "c2b_confirmation_malformed_amount_nonnumeric.json", Kind: mpesa.KindC2BValidation,
				WantAckFile: "response_validation_reject_invalid_amount.json", WantCode: "C2B00013"},
			{Name: "validation without TransID", File: "c2b_confirmation_malformed_missing_transid.json", Kind: mpesa.KindC2BValidation,
				WantAck: &adapters.Response{Status: 200, ContentType: "application/json", Body: []byte(`{"ResultCode":"C2B00016","ResultDesc":"Rejected"}`)}, WantCode: "C2B00016"},

			// C2B confirmation.
			{Name: "masked", File: "c2b_confirmation_v2_masked_msisdn.json", Kind: mpesa.KindC2BConfirmation, WantAckFile: ack,
				WantNotices: []core.PaymentNotice{c2bOK}, WantRef: &adapters.PaymentRef{ProviderTxID: "TEST0A1B2C"}},
			{File: "c2b_confirmation_duplicate_transid.json", Kind: mpesa.KindC2BConfirmation, WantAckFile: ack,
				WantNotices: []core.PaymentNotice{c2bOK}, DuplicateOf: "masked"},
			{File: "c2b_confirmation_v1_hashed_msisdn.json", Kind: mpesa.KindC2BConfirmation, WantAckFile: ack,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "TEST0A1B2D", Status: core.NoticeSucceeded, Amount: kes(3000), AccountRef: "AC100234",
					PayerMSISDNHash: phoneHash, PayerName: "JANE W DOE", OccurredAt: eat(2025, 3, 14, 10, 15, 0)}}},
			{File: "c2b_confirmation_messy_billref_full_msisdn.json", Kind: mpesa.KindC2BConfirmation, WantAckFile: ack,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "TEST0A1B2E", Status: core.NoticeSucceeded, Amount: kes(500), AccountRef: "AC100234",
					PayerMSISDN: "254700000123", PayerName: "John Doe", OccurredAt: eat(2025, 3, 14, 9, 30, 15)}}},
			{File: "c2b_confirmation_till_no_billref.json", Kind: mpesa.KindC2BConfirmation, WantAckFile: ack,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "TEST0A1B2F", Status: core.NoticeSucceeded, Amount: kes(200),
					PayerMSISDN: masked, PayerName: "JANE", OccurredAt: eat(2025, 3, 14, 9, 30, 15)}}},
			{File: "c2b_confirmation_unknown_account.json", Kind: mpesa.KindC2BConfirmation, WantAckFile: ack,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "TEST0A1B2G", Status: core.NoticeSucceeded, Amount: kes(1500), AccountRef: "AC999999",
					PayerMSISDN: masked, PayerName: "JANE", OccurredAt: eat(2025, 3, 14, 9, 30, 15)}}},
			{File: "c2b_confirmation_malformed_amount_nonnumeric.json", Kind: mpesa.KindC2BConfirmation, WantAckFile: ack,
				WantQuarantine: true, WantRef: &adapters.PaymentRef{ProviderTxID: "TEST0A1B2H"}},
			{File: "c2b_confirmation_malformed_missing_amount.json", Kind: mpesa.KindC2BConfirmation, WantAckFile: ack,
				WantQuarantine: true, WantRef: &adapters.PaymentRef{ProviderTxID: "TEST0A1B2J"}},
			{File: "c2b_confirmation_malformed_missing_transid.json", Kind: mpesa.KindC2BConfirmation, WantAckFile: ack,
				WantQuarantine: true, WantRef: &adapters.PaymentRef{}},

			// STK push callbacks.
			{Name: "stk success", File: "stk_callback_success.json", Kind: mpesa.KindSTK, WantAckFile: ack,
				WantNotices: []core.PaymentNotice{stkOK},
				WantRef:     &adapters.PaymentRef{RequestID: stkOK.RequestID, ProviderRef: stkOK.RequestID, ProviderTxID: "TEST0S1T2K"}},
			{File: "stk_callback_duplicate.json", Kind: mpesa.KindSTK, WantAckFile: ack, WantNotices: []core.PaymentNotice{stkOK}, DuplicateOf: "stk success"},
			{File: "stk_callback_cancelled_1032.json", Kind: mpesa.KindSTK, WantAckFile: ack,
				WantNotices: failed("ws_CO_14032025093500000700000123", "1032: Request cancelled by user")},
			{File: "stk_callback_insufficient_funds_1.json", Kind: mpesa.KindSTK, WantAckFile: ack,
				WantNotices: failed("ws_CO_14032025094000000700000123", "1: The balance is insufficient for the transaction.")},
			{File: "stk_callback_unreachable_1037.json", Kind: mpesa.KindSTK, WantAckFile: ack,
				WantNotices: failed("ws_CO_14032025094500000700000123", "1037: DS timeout user cannot be reached")},
			{File: "stk_callback_malformed_success_without_metadata.json", Kind: mpesa.KindSTK, WantAckFile: ack, WantQuarantine: true,
				WantRef: &adapters.PaymentRef{RequestID: "ws_CO_14032025095000000700000123", ProviderRef: "ws_CO_14032025095000000700000123"}},
			{File: "stk_callback_unknown_checkout_id.json", Kind: mpesa.KindSTK, WantAckFile: ack,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "TEST0S1T9Z", RequestID: "ws_CO_01011970000000000700000000", Status: core.NoticeSucceeded,
					Amount: kes(10), PayerMSISDN: "254700000999", OccurredAt: eat(2025, 3, 14, 10, 0, 0)}}},

			// Transaction Status results.
			{File: "transaction_status_result_completed.json", Kind: mpesa.KindStatusResult, WantAckFile: ack,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "TEST0A1B2C", Status: core.NoticeSucceeded, Amount: kes(1500),
					PayerMSISDN: masked, PayerName: "JANE", OccurredAt: eat(2025, 3, 14, 9, 30, 16)}},
				WantRef:     &adapters.PaymentRef{ProviderTxID: "TEST0A1B2C"},
				WantOutcome: outcome(adapters.OperationStatusQuery, "1234-5678901-1", "AG_20250314_0000aaaabbbbccccdddd", adapters.OutcomeSucceeded, "0", "The service request is processed successfully.")},
			{File: "transaction_status_result_failed.json", Kind: mpesa.KindStatusResult, WantAckFile: ack,
				WantOutcome: outcome(adapters.OperationStatusQuery, "1234-5678902-1", "AG_20250314_0000aaaabbbbcccc1111", adapters.OutcomeFailed, "SFC_IC0003", "The operator does not exist.")},
			{File: "transaction_status_timeout.json", Kind: mpesa.KindStatusTimeout, WantAckFile: ack,
				WantOutcome: outcome(adapters.OperationStatusQuery, "1234-5678903-1", "AG_20250314_0000aaaabbbbcccc2222", adapters.OutcomeTimedOut, "1", "The service request timed out.")},

			// Reversal results.
			{File: "reversal_result_success.json", Kind: mpesa.KindReversalResult, WantAckFile: ack,
				WantNotices: []core.PaymentNotice{{ProviderTxID: "TEST0A1B2C", Status: core.NoticeReversed, Amount: kes(1500),
					PayerMSISDN: masked, PayerName: "JANE", OccurredAt: eat(2025, 3, 15, 11, 0, 0),
					Reason: "reversed by TEST0R0001: The service request is processed successfully."}},
				WantRef:     &adapters.PaymentRef{ProviderTxID: "TEST0A1B2C"},
				WantOutcome: outcome(adapters.OperationReversal, "abcd-4c34-8787-000000000001", "AG_20250315_0000ffffeeeeddddcccc", adapters.OutcomeSucceeded, "0", "The service request is processed successfully.")},
			{File: "reversal_result_already_reversed.json", Kind: mpesa.KindReversalResult, WantAckFile: ack,
				WantOutcome: outcome(adapters.OperationReversal, "abcd-4c34-8787-000000000002", "AG_20250315_0000ffffeeeedddd0002", adapters.OutcomeAlreadyDone, "R000001", "The transaction has already been reversed.")},
		},
		AuthCases: []adaptertest.AuthCase{
			{Name: "wrong secret", File: "c2b_confirmation_v2_masked_msisdn.json", Kind: mpesa.KindC2BConfirmation, Method: "POST",
				PathParams: map[string]string{"secret": secret + "x"}, WantStatus: 404, WantCheck: "path_secret"},
			{Name: "no secret", File: "stk_callback_success.json", Kind: mpesa.KindSTK, Method: "POST",
				PathParams: map[string]string{"other": secret}, WantStatus: 404, WantCheck: "path_secret"},
			{Name: "not a Safaricom address", File: "c2b_validation_paybill_ok.json", Kind: mpesa.KindC2BValidation, Method: "POST",
				RemoteAddr: netip.MustParseAddr("203.0.113.9"), WantStatus: 403, WantCheck: "source_ip"},
		},
	})
}

// TestValidationWithoutMinimum is the second configuration the README
// asks for: with no minimum, a 10 KES payment is accepted. It also sets
// validation_on_error to accept.
func TestValidationWithoutMinimum(t *testing.T) {
	adaptertest.Run(t, adaptertest.Suite{
		Config:     config(map[string]any{"validation_on_error": "accept"}),
		Dir:        fixtureDir,
		PathParams: map[string]string{"secret": secret},
		RemoteAddr: safaricomAddr,
		Accounts:   accounts,
		Cases: []adaptertest.Case{
			{File: "c2b_validation_amount_below_policy_minimum.json", Kind: mpesa.KindC2BValidation, WantAckFile: "response_validation_accept.json", WantCode: "0"},
			{Name: "checker fails, accept", File: "c2b_validation_paybill_ok.json", Kind: mpesa.KindC2BValidation,
				Accounts: adaptertest.Accounts{Err: errors.New("store down")}, WantCheckError: true, WantCode: "0", WantAckFile: "response_validation_accept.json"},
		},
	})
}

func outcome(op adapters.Operation, reqRef, provRef string, r adapters.OutcomeResult, code, desc string) *adapters.RequestOutcome {
	return &adapters.RequestOutcome{AsyncRequest: adapters.AsyncRequest{Operation: op, RequestRef: reqRef, ProviderRef: provRef}, Result: r, Code: code, Description: desc}
}
