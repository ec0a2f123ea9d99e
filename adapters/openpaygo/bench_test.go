package openpaygo

import (
	"strconv"
	"testing"
)

// benchCounts returns the stored counts the benchmarks run at. Both
// encoding and decoding cost one SipHash per count.
func benchCounts() []int {
	return []int{10, 1000, 60_000}
}

func benchDevice(b *testing.B) Device {
	return Device{Key: mustKey(b, "a29ab82edc5fbbc41ec9530f6dac86b1"), StartingCode: 123456789}
}

// BenchmarkEncode measures standard ADD_TIME tokens at several stored
// counts and reports tokens per second.
func BenchmarkEncode(b *testing.B) {
	d := benchDevice(b)
	for _, count := range benchCounts() {
		b.Run("count="+strconv.Itoa(count), func(b *testing.B) {
			n := 0
			for b.Loop() {
				if _, _, err := d.Encode(AddTime, 7, count); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkDecode measures a device accepting the next token, at several
// device counts, and reports tokens per second. The device searches from
// count 0, so the cost grows with the count.
func BenchmarkDecode(b *testing.B) {
	d := benchDevice(b)
	for _, count := range benchCounts() {
		b.Run("count="+strconv.Itoa(count), func(b *testing.B) {
			token, _, err := d.Encode(AddTime, 7, count)
			if err != nil {
				b.Fatal(err)
			}
			s := InitialState(count)
			n := 0
			for b.Loop() {
				res, err := d.Decode(token, s)
				if err != nil || res.Type != AddTime {
					b.Fatalf("%+v, %v", res, err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
