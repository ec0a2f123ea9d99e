package messaging

import (
	"strings"
	"testing"
	"time"

	"github.com/payg-gateway/gateway/core"
)

func TestEncode(t *testing.T) {
	for _, c := range []struct {
		name string
		text string
		enc  Encoding
		segs int
	}{
		{"empty", "", GSM7, 1},
		{"ascii", "Thank you, 500 KES received", GSM7, 1},
		{"gsm basic accents", "Félicitations, payé à temps: Ñ ü Ø ß ¿ § £ ¥ Δ", GSM7, 1},
		{"160 gsm", strings.Repeat("a", 160), GSM7, 1},
		{"161 gsm", strings.Repeat("a", 161), GSM7, 2},
		{"306 gsm", strings.Repeat("a", 306), GSM7, 2},
		{"307 gsm", strings.Repeat("a", 307), GSM7, 3},
		// Extension characters count two septets.
		{"80 euro signs", strings.Repeat("€", 80), GSM7, 1},
		{"81 euro signs", strings.Repeat("€", 81), GSM7, 2},
		{"159 + brace", strings.Repeat("a", 159) + "{", GSM7, 2},
		{"extension table", "^{}\\[~]|€\f", GSM7, 1},
		// An escape pair is never split: 152 septets then a 2-septet char
		// does not fit the first part's 153.
		{"split escape", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152), GSM7, 3},
		{"no split needed", strings.Repeat("a", 151) + "€" + strings.Repeat("a", 153), GSM7, 2},
		// Anything outside GSM 03.38 makes the whole text UCS-2.
		{"c cedilla", "reçu", UCS2, 1},
		{"70 ucs2", "ç" + strings.Repeat("a", 69), UCS2, 1},
		{"71 ucs2", "ç" + strings.Repeat("a", 70), UCS2, 2},
		{"134 ucs2", "ç" + strings.Repeat("a", 133), UCS2, 2},
		{"135 ucs2", "ç" + strings.Repeat("a", 134), UCS2, 3},
		{"emoji is two units", strings.Repeat("😀", 35), UCS2, 1},
		{"36 emoji", strings.Repeat("😀", 36), UCS2, 2},
		{"surrogate pair never split", "aa" + strings.Repeat("😀", 66), UCS2, 3},
		{"tilde a", "não", UCS2, 1},
		{"lower c cedilla is not gsm but upper is", "Ç", GSM7, 1},
		{"backtick", "`", UCS2, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			enc, segs := Encode(c.text)
			if enc != c.enc || segs != c.segs {
				t.Errorf("Encode(%q) = %s, %d; want %s, %d", clip(c.text), enc, segs, c.enc, c.segs)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, src := range []string{"", "  ", "hello {{name", "{{}}", "{{#a}}x", "{{/a}}", "{{#a}}x{{/b}}", "{{Name}}", "{{na me}}"} {
		if _, err := Parse(src); err == nil {
			t.Errorf("Parse(%q) = nil error", src)
		}
	}
}

func TestTemplateCheck(t *testing.T) {
	vars := Catalogue[TemplatePaymentReceived]
	for _, c := range []struct {
		src string
		ok  bool
	}{
		{"Thanks {{name}}, {{amount}}", true},
		{"Thanks {{nmae}}", false},                       // a typo is caught at start
		{"Code {{token}}", false},                        // may be empty: needs its section
		{"{{#token}}Code {{token}}{{/token}}", true},     // inside its guard
		{"{{^token}}No code {{token}}{{/token}}", false}, // an inverted section does not guard
		{"{{#expiry}}{{days}} days{{/expiry}}", true},    // days is guarded by expiry
		{"{{#token}}{{days}} days{{/token}}", false},     // but not by token
		{"{{#percent}}{{balance}}{{/percent}}", true},    // balance comes with percent
		{"{{#unknown}}x{{/unknown}}", false},             // unknown section
		{"{{#token}}{{#expiry}}{{days}}{{/expiry}}{{/token}}", true},
	} {
		p, err := Parse(c.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.src, err)
		}
		if err := p.Check(vars); (err == nil) != c.ok {
			t.Errorf("Check(%q) = %v, want ok %v", c.src, err, c.ok)
		}
	}
}

func TestRender(t *testing.T) {
	p, err := Parse("Hi {{name}}.{{#token}} Code: {{token}}.{{/token}}{{^token}} No code.{{/token}}")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Render(map[string]string{"name": "Amina", "token": "123 456"}); got != "Hi Amina. Code: 123 456." {
		t.Errorf("with token = %q", got)
	}
	if got := p.Render(map[string]string{"name": "Amina"}); got != "Hi Amina. No code." {
		t.Errorf("without token = %q", got)
	}
}

func TestDefaultsAndOverrides(t *testing.T) {
	ts, err := NewTemplates(Overrides{TemplatePaidOff: {"en": "Paid off, {{name}}!"}},
		map[string]Overrides{"acme": {TemplatePaidOff: {"fr": "Soldé, {{name}}!"}}})
	if err != nil {
		t.Fatal(err)
	}
	// Every template ships in the four languages, and keeps to GSM-7 when
	// the values do.
	values := map[string]string{}
	for _, vs := range Catalogue {
		for _, v := range vs {
			values[v.Name] = "X1"
		}
	}
	for name := range Catalogue {
		for _, lang := range []string{"en", "fr", "sw", "pt"} {
			src, ok := Defaults[name][lang]
			if !ok {
				t.Errorf("no default %s in %s", name, lang)
				continue
			}
			p, _ := Parse(src)
			body := p.Render(values)
			if enc, _ := Encode(body); enc != GSM7 {
				t.Errorf("default %s/%s is %s: %q", name, lang, enc, body)
			}
			if strings.Contains(body, "{{") {
				t.Errorf("default %s/%s left a tag: %q", name, lang, body)
			}
		}
	}
	render := func(tenant, name, lang string) (string, string) {
		p, l, ok := ts.Lookup(tenant, name, lang)
		if !ok {
			t.Fatalf("Lookup(%s, %s, %s) found nothing", tenant, name, lang)
		}
		return p.Render(map[string]string{"name": "Amina", "account": "AC1", "total_paid": "100 KES"}), l
	}
	for _, c := range []struct{ tenant, name, lang, want, wantLang string }{
		{"acme", TemplatePaidOff, "fr", "Soldé, Amina!", "fr"},                                                                       // the tenant's own
		{"acme", TemplatePaidOff, "en", "Paid off, Amina!", "en"},                                                                    // the global override
		{"other", TemplatePaidOff, "fr-CI", "Félicitations Amina! AC1 est entièrement payé (100 KES). L'appareil est à vous.", "fr"}, // the default, by base language
		{"other", TemplatePaidOff, "am", "Paid off, Amina!", "en"},                                                                   // an unknown language falls back to English
		{"other", TemplatePaidOff, "sw", "Hongera Amina! AC1 imelipwa kikamilifu (100 KES). Kifaa ni chako.", "sw"},
	} {
		got, lang := render(c.tenant, c.name, c.lang)
		if got != c.want || lang != c.wantLang {
			t.Errorf("%s/%s/%s = %q (%s), want %q (%s)", c.tenant, c.name, c.lang, got, lang, c.want, c.wantLang)
		}
	}
}

func TestTemplatesRejectMissingVariablesAtStart(t *testing.T) {
	_, err := NewTemplates(
		Overrides{TemplateReminder: {"en": "Pay {{amout}} by {{due_date}}"}, "birthday": {"en": "Happy birthday"}},
		map[string]Overrides{"acme": {TemplatePaymentReceived: {"sw": "Namba {{token}}"}}})
	if err == nil {
		t.Fatal("NewTemplates accepted templates with unknown variables")
	}
	for _, want := range []string{
		"templates.reminder.en: unknown variable {{amout}}",
		"templates.birthday: unknown template",
		"tenants.acme.templates.payment_received.sw: {{token}} may be empty",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		m    core.Money
		lang string
		want string
	}{
		{core.Money{Amount: 50000, Currency: "KES"}, "en", "500 KES"},
		{core.Money{Amount: 1825000, Currency: "KES"}, "en", "18,250 KES"},
		{core.Money{Amount: 1825050, Currency: "KES"}, "sw", "18,250.50 KES"},
		{core.Money{Amount: 1500000, Currency: "XOF"}, "fr", "1 500 000 XOF"},
		{core.Money{Amount: 123456705, Currency: "MZN"}, "pt", "1.234.567,05 MZN"},
		{core.Money{Amount: 5000, Currency: "UGX"}, "en", "5,000 UGX"},
		{core.Money{Amount: 7, Currency: "KES"}, "en", "0.07 KES"},
	} {
		if got := FormatMoney(c.m, c.lang); got != c.want {
			t.Errorf("FormatMoney(%v, %s) = %q, want %q", c.m, c.lang, got, c.want)
		}
	}
	for code, want := range map[string]string{
		"123456789":        "123 456 789",
		"518143013":        "518 143 013",
		"1234567890":       "123 456 789 0",
		"*12345678901234#": "*123 456 789 012 34#",
		"12":               "12",
	} {
		if got := GroupToken(code); got != want {
			t.Errorf("GroupToken(%q) = %q, want %q", code, got, want)
		}
	}
	if got := Percent(1131500, 1825000); got != "62%" {
		t.Errorf("Percent = %q, want 62%%", got)
	}
	if got := Percent(1824999, 1825000); got != "99%" {
		t.Errorf("Percent just short = %q, want 99%%", got)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	if got := DaysLeft(now, now.Add(30*time.Hour)); got != 2 {
		t.Errorf("DaysLeft(30h) = %d, want 2", got)
	}
	if got := DaysLeft(now, now.Add(72*time.Hour)); got != 3 {
		t.Errorf("DaysLeft(72h) = %d, want 3", got)
	}
	nairobi, _ := time.LoadLocation("Africa/Nairobi")
	if got := FormatDateTime(time.Date(2026, 3, 1, 22, 30, 0, 0, time.UTC), nairobi); got != "02/03/2026 01:30" {
		t.Errorf("FormatDateTime = %q", got)
	}
}

func TestQuietHours(t *testing.T) {
	nairobi, _ := time.LoadLocation("Africa/Nairobi")
	at := func(day, h, m int) time.Time { return time.Date(2026, 3, day, h, m, 0, 0, nairobi) }
	q, err := ParseQuietHours("21:00-07:00")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		t, want time.Time
	}{
		{at(2, 12, 0), at(2, 12, 0)},   // daytime: at once
		{at(2, 20, 59), at(2, 20, 59)}, // just before
		{at(2, 21, 0), at(3, 7, 0)},    // evening: next morning
		{at(2, 23, 30), at(3, 7, 0)},
		{at(3, 3, 0), at(3, 7, 0)}, // small hours: this morning
		{at(3, 7, 0), at(3, 7, 0)}, // the end is not quiet
	} {
		if got := q.Defer(c.t, nairobi); !got.Equal(c.want) {
			t.Errorf("Defer(%v) = %v, want %v", c.t, got.In(nairobi), c.want)
		}
	}
	day, _ := ParseQuietHours("12:00-14:00")
	if !day.In(at(2, 13, 0), nairobi) || day.In(at(2, 14, 0), nairobi) || day.In(at(2, 11, 59), nairobi) {
		t.Error("a window within a day is wrong")
	}
	if none, _ := ParseQuietHours(""); none.In(at(2, 3, 0), nairobi) {
		t.Error("no quiet hours are quiet")
	}
	for _, bad := range []string{"21-07", "25:00-07:00", "21:00-07:60", "9pm-7am"} {
		if _, err := ParseQuietHours(bad); err == nil {
			t.Errorf("ParseQuietHours(%q) = nil error", bad)
		}
	}
}
