// Package sim simulates providers for tests and for CRM teams without
// telco credentials: it builds the requests a provider would send to the
// gateway, in the provider's real wire format.
package sim

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"time"
)

// C2BConfirmation is a Safaricom Daraja C2B confirmation as Safaricom
// sends it (every field a string).
type C2BConfirmation struct {
	TransactionType   string `json:"TransactionType"`
	TransID           string `json:"TransID"`
	TransTime         string `json:"TransTime"`
	TransAmount       string `json:"TransAmount"`
	BusinessShortCode string `json:"BusinessShortCode"`
	BillRefNumber     string `json:"BillRefNumber"`
	InvoiceNumber     string `json:"InvoiceNumber"`
	OrgAccountBalance string `json:"OrgAccountBalance"`
	ThirdPartyTransID string `json:"ThirdPartyTransID"`
	MSISDN            string `json:"MSISDN"`
	FirstName         string `json:"FirstName"`
	MiddleName        string `json:"MiddleName"`
	LastName          string `json:"LastName"`
}

var amountPattern = regexp.MustCompile(`^[0-9]{1,9}(\.[0-9]{1,2})?$`)

// eat is East Africa Time, in which Daraja writes TransTime.
var eat = time.FixedZone("EAT", 3*60*60)

// NewC2BConfirmation returns a paybill payment of amount (major units as
// Safaricom writes them, e.g. "500" or "1500.00") to account at shortCode,
// with a fresh transaction id.
func NewC2BConfirmation(shortCode, account, amount, msisdn string, at time.Time) (C2BConfirmation, error) {
	if !amountPattern.MatchString(amount) {
		return C2BConfirmation{}, fmt.Errorf("sim: amount %q: want a number such as 500 or 1500.00", amount)
	}
	id, err := TransID()
	if err != nil {
		return C2BConfirmation{}, err
	}
	return C2BConfirmation{
		TransactionType: "Pay Bill", TransID: id, TransTime: at.In(eat).Format("20060102150405"),
		TransAmount: amount, BusinessShortCode: shortCode, BillRefNumber: account, MSISDN: msisdn,
		FirstName: "SIM", OrgAccountBalance: "0.00",
	}, nil
}

// JSON renders the confirmation's body.
func (c C2BConfirmation) JSON() []byte {
	b, _ := json.Marshal(c) // only strings: cannot fail
	return b
}

// TransID returns a fresh M-Pesa-like receipt: "SIM" and seven capitals
// or digits.
func TransID() (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := []byte("SIM")
	for range 7 {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b = append(b, alphabet[n.Int64()])
	}
	return string(b), nil
}
