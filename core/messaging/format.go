package messaging

import (
	"strconv"
	"strings"
	"time"

	"github.com/payg-gateway/gateway/core"
)

// zeroDecimal lists currencies without minor units (ISO 4217 exponent 0)
// among those PAYG distributors take; every other currency has two.
var zeroDecimal = map[core.Currency]bool{
	"UGX": true, "RWF": true, "XOF": true, "XAF": true, "BIF": true, "GNF": true,
	"KMF": true, "DJF": true, "JPY": true, "KRW": true, "VND": true, "PYG": true, "CLP": true,
}

// separators are a language's thousands and decimal separators (plain
// ASCII, so the text stays GSM-7).
func separators(lang string) (thousands, decimal string) {
	switch baseLanguage(lang) {
	case "fr":
		return " ", ","
	case "pt":
		return ".", ","
	}
	return ",", "."
}

// FormatMoney writes an amount for a customer: "1,500 KES", "1 500,50 XOF"
// style by language; whole amounts without decimals.
func FormatMoney(m core.Money, lang string) string {
	th, dec := separators(lang)
	neg := m.Amount < 0
	a := m.Amount
	if neg {
		a = -a
	}
	var whole, frac int64 = a, 0
	if !zeroDecimal[m.Currency] {
		whole, frac = a/100, a%100
	}
	s := group(strconv.FormatInt(whole, 10), th)
	if frac != 0 {
		s += dec + pad2(frac)
	}
	if neg {
		s = "-" + s
	}
	return s + " " + string(m.Currency)
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// group puts sep between groups of three digits from the right.
func group(digits, sep string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	first := len(digits) % 3
	if first > 0 {
		b.WriteString(digits[:first])
	}
	for i := first; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

// GroupToken writes a token for reading and typing: each run of digits in
// groups of three from the left, "123 456 789"; other characters (a
// keycode's * and #) stay where they are.
func GroupToken(code string) string {
	var b strings.Builder
	run := 0
	for _, r := range code {
		if r >= '0' && r <= '9' {
			if run > 0 && run%3 == 0 {
				b.WriteByte(' ')
			}
			run++
		} else {
			run = 0
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Percent writes part of whole as a whole percentage, rounded down (a
// customer is never told 100 % before the last payment): "62%".
func Percent(part, whole int64) string {
	if whole <= 0 {
		return ""
	}
	p := part * 100 / whole
	if p > 100 {
		p = 100
	}
	if p < 0 {
		p = 0
	}
	return strconv.FormatInt(p, 10) + "%"
}

// FormatDate writes a local date as dd/mm/yyyy.
func FormatDate(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("02/01/2006")
}

// FormatDateTime writes a local time as dd/mm/yyyy hh:mm.
func FormatDateTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("02/01/2006 15:04")
}

// DaysLeft is the whole days from now until t, rounded up (credit that
// ends in 30 hours is "2 days"); 0 when t has passed.
func DaysLeft(now, t time.Time) int {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}
