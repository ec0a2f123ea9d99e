package nexus

import (
	"fmt"
	"testing"
)

// BenchmarkEncode measures keycode generation at small, medium and large
// message ids. Neither protocol bounds the id in the encoder: the MAC covers
// all 32 bits and only the low 6 travel on the wire. The device firmware
// keeps ids in 16 bits, so 60000 is a realistic upper end for both.
func BenchmarkEncode(b *testing.B) {
	full, err := NewFullEncoder(deadbeef)
	if err != nil {
		b.Fatal(err)
	}
	small, err := NewSmallEncoder(deadbeef)
	if err != nil {
		b.Fatal(err)
	}
	encoders := []struct {
		name string
		enc  func(id uint32) (string, error)
	}{
		{"full/ADD_CREDIT", func(id uint32) (string, error) { return full.AddCredit(id, 168) }},
		{"small/ADD_CREDIT", func(id uint32) (string, error) { return small.AddCredit(id, 7) }},
		// The extended message also checks 15 other ids for collisions.
		{"small/EXTENDED_SET_CREDIT_WIPE_RESTRICTED_FLAG", func(id uint32) (string, error) {
			return small.ExtendedSetCreditWipeRestrictedFlag(id, 30)
		}},
		{"request/full/ADD_CREDIT", func(id uint32) (string, error) {
			return Encode(Request{Protocol: Full, Type: AddCredit, Key: deadbeef, ID: id, Value: "168"})
		}},
	}
	for _, e := range encoders {
		for _, id := range []uint32{10, 1000, 60000} {
			b.Run(fmt.Sprintf("%s/id=%d", e.name, id), func(b *testing.B) {
				if _, err := e.enc(id); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.enc(id); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	}
}
