package all_test

import (
	"slices"
	"testing"

	"github.com/payg-gateway/gateway/adapters"
	_ "github.com/payg-gateway/gateway/adapters/all"
)

func TestRegistered(t *testing.T) {
	for _, id := range []string{"payments.mpesa", "payments.mtn_momo", "sms.africastalking", "sms.twilio"} {
		if !slices.Contains(adapters.IDs(), id) {
			t.Errorf("%s is not registered; IDs: %v", id, adapters.IDs())
		}
	}
}
