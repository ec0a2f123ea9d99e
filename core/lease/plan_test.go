package lease_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/core"
	"github.com/payg-gateway/gateway/core/lease"
)

func validPlans() map[lease.Kind]lease.Plan {
	byCount := instalmentPlan(lease.KindInstalmentsByCount, lease.PeriodWeek, 12000, 2000)
	byCount.InstalmentCount = 3
	byCost := instalmentPlan(lease.KindInstalmentsByCost, lease.PeriodMonth, 5000, 1000)
	byCost.InstalmentAmount = 1500
	return map[lease.Kind]lease.Plan{
		lease.KindPAYGCredit:         paygPlan(100, lease.PeriodDay),
		lease.KindInstalmentsByCount: byCount,
		lease.KindInstalmentsByCost:  byCost,
		lease.KindEnergy: {Kind: lease.KindEnergy, Currency: "KES", PricePerKWh: 30,
			AccessRate: 300, AccessPeriodDays: 30, GraceDays: 2, DefaultDays: 30},
	}
}

func TestPlanValidate(t *testing.T) {
	for kind, p := range validPlans() {
		if err := p.Validate(); err != nil {
			t.Errorf("valid %s plan: %v", kind, err)
		}
		if kind == lease.KindEnergy {
			continue
		}
		for _, m := range []lease.TokenMode{lease.TokenModeAddTime, lease.TokenModeSetTime} {
			p.TokenMode = m
			if err := p.Validate(); err != nil {
				t.Errorf("valid %s plan with token_mode %s: %v", kind, m, err)
			}
		}
	}
	tests := []struct {
		name   string
		kind   lease.Kind
		change func(*lease.Plan)
		field  string // must be named in the error
	}{
		{"unknown kind", lease.KindPAYGCredit, func(p *lease.Plan) { p.Kind = "lease_to_own" }, "kind"},
		{"unknown token mode", lease.KindPAYGCredit, func(p *lease.Plan) { p.TokenMode = "set" }, "token_mode"},
		{"set_time on energy", lease.KindEnergy, func(p *lease.Plan) { p.TokenMode = lease.TokenModeSetTime }, "token_mode"},
		{"lower-case currency", lease.KindPAYGCredit, func(p *lease.Plan) { p.Currency = "kes" }, "currency"},
		{"negative deposit", lease.KindPAYGCredit, func(p *lease.Plan) { p.Deposit = -1 }, "deposit"},
		{"negative minimum", lease.KindPAYGCredit, func(p *lease.Plan) { p.MinimumPayment = -1 }, "minimum_payment"},
		{"default not after grace", lease.KindPAYGCredit, func(p *lease.Plan) { p.DefaultDays = p.GraceDays }, "default_days"},
		{"negative grace", lease.KindPAYGCredit, func(p *lease.Plan) { p.GraceDays = -1 }, "grace_days"},
		{"zero price", lease.KindPAYGCredit, func(p *lease.Plan) { p.Price = 0 }, "price"},
		{"fortnight", lease.KindPAYGCredit, func(p *lease.Plan) { p.PricePeriod = "fortnight" }, "price_period"},
		{"negative free days", lease.KindPAYGCredit, func(p *lease.Plan) { p.FreeDays = -1 }, "free_days"},
		{"total below deposit", lease.KindPAYGCredit, func(p *lease.Plan) { p.Deposit, p.TotalPrice = 500, 400 }, "total_price"},
		{"instalment field on payg", lease.KindPAYGCredit, func(p *lease.Plan) { p.InstalmentCount = 3 }, "instalment_count"},
		{"energy field on payg", lease.KindPAYGCredit, func(p *lease.Plan) { p.PricePerKWh = 3 }, "price_per_kwh"},
		{"no count", lease.KindInstalmentsByCount, func(p *lease.Plan) { p.InstalmentCount = 0 }, "instalment_count"},
		{"count above max", lease.KindInstalmentsByCount, func(p *lease.Plan) { p.InstalmentCount = lease.MaxInstalments + 1 }, "instalment_count"},
		{"count above financed", lease.KindInstalmentsByCount, func(p *lease.Plan) { p.TotalPrice, p.InstalmentCount = 2500, 600 }, "instalment_count"},
		{"daily instalments", lease.KindInstalmentsByCount, func(p *lease.Plan) { p.Frequency = lease.PeriodDay }, "frequency"},
		{"no total", lease.KindInstalmentsByCount, func(p *lease.Plan) { p.TotalPrice = 0 }, "total_price"},
		{"amount on by-count", lease.KindInstalmentsByCount, func(p *lease.Plan) { p.InstalmentAmount = 10 }, "instalment_amount"},
		{"price on instalments", lease.KindInstalmentsByCount, func(p *lease.Plan) { p.Price = 10 }, "price"},
		{"no amount", lease.KindInstalmentsByCost, func(p *lease.Plan) { p.InstalmentAmount = 0 }, "instalment_amount"},
		{"too many instalments", lease.KindInstalmentsByCost, func(p *lease.Plan) { p.InstalmentAmount = 1 }, "instalment_amount"},
		{"count on by-cost", lease.KindInstalmentsByCost, func(p *lease.Plan) { p.InstalmentCount = 3 }, "instalment_count"},
		{"no energy price", lease.KindEnergy, func(p *lease.Plan) { p.PricePerKWh = 0 }, "price_per_kwh"},
		{"access without period", lease.KindEnergy, func(p *lease.Plan) { p.AccessPeriodDays = 0 }, "access_period_days"},
		{"period without access", lease.KindEnergy, func(p *lease.Plan) { p.AccessRate = 0 }, "access_period_days"},
		{"total on energy", lease.KindEnergy, func(p *lease.Plan) { p.TotalPrice = 100 }, "total_price"},
		{"free days on energy", lease.KindEnergy, func(p *lease.Plan) { p.FreeDays = 1 }, "free_days"},
		{"step not for kind", lease.KindPAYGCredit, func(p *lease.Plan) { p.Waterfall = []lease.Step{lease.StepArrears, lease.StepCredit} }, "waterfall[0]"},
		{"duplicate step", lease.KindPAYGCredit, func(p *lease.Plan) {
			p.Waterfall = []lease.Step{lease.StepFees, lease.StepFees, lease.StepCredit}
		}, "waterfall[1]"},
		{"credit not last", lease.KindPAYGCredit, func(p *lease.Plan) { p.Waterfall = []lease.Step{lease.StepCredit, lease.StepFees} }, "waterfall"},
		{"missing access debt", lease.KindEnergy, func(p *lease.Plan) { p.Waterfall = []lease.Step{lease.StepEnergy} }, "waterfall"},
		{"principal out of order", lease.KindInstalmentsByCount, func(p *lease.Plan) {
			p.Waterfall = []lease.Step{lease.StepCurrentDue, lease.StepArrears, lease.StepAdvance}
		}, "waterfall"},
	}
	plans := validPlans()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plans[tt.kind]
			p.Waterfall = append([]lease.Step(nil), p.Waterfall...)
			tt.change(&p)
			err := p.Validate()
			if !errors.Is(err, lease.ErrInvalidPlan) || core.ErrorCode(err) != core.EINVALID {
				t.Fatalf("error %v, want ErrInvalidPlan", err)
			}
			var fe *lease.FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), "plan: "+tt.field+": ") {
				t.Errorf("error %q does not name field %q", err, tt.field)
			}
		})
	}
}

// TestPlanJSON: plans come from a JSON API in snake_case and round-trip.
func TestPlanJSON(t *testing.T) {
	const in = `{
		"kind": "payg_credit", "currency": "KES",
		"deposit": 200000, "minimum_payment": 5000,
		"grace_days": 3, "default_days": 60,
		"waterfall": ["penalties", "fees", "credit"],
		"total_price": 2000000,
		"price": 35000, "price_period": "week", "free_days": 7
	}`
	var p lease.Plan
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	want := lease.Plan{
		Kind: lease.KindPAYGCredit, Currency: "KES", Deposit: 200000, MinimumPayment: 5000,
		GraceDays: 3, DefaultDays: 60, Waterfall: []lease.Step{lease.StepPenalties, lease.StepFees, lease.StepCredit},
		TotalPrice: 2000000, Price: 35000, PricePeriod: lease.PeriodWeek, FreeDays: 7,
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("decoded %+v\nwant %+v", p, want)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back lease.Plan
	if err := json.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, p) {
		t.Errorf("round trip: %s → %+v (%v)", out, back, err)
	}
}
