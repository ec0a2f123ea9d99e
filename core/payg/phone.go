package payg

import (
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/payg-gateway/gateway/core"
)

// NormalizePhone returns raw in E.164. A number without a country prefix is
// read in defaultCountry (ISO 3166-1 alpha-2; may be empty). Numbers such
// as "254700000123" (country code without '+') are accepted, as providers
// send them.
func NormalizePhone(raw, defaultCountry string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", core.Errorf(core.EINVALID, "phone: empty")
	}
	candidates := []string{s}
	if !strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "0") {
		candidates = append([]string{"+" + s}, candidates...)
	}
	for _, c := range candidates {
		n, err := phonenumbers.Parse(c, strings.ToUpper(defaultCountry))
		if err != nil || !phonenumbers.IsValidNumber(n) {
			continue
		}
		return phonenumbers.Format(n, phonenumbers.E164), nil
	}
	return "", core.Errorf(core.EINVALID, "phone %q is not a valid number (give it in E.164, e.g. +254700000123)", raw)
}
