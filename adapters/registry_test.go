package adapters_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/payg-gateway/gateway/adapters"
)

// dummy is a minimal adapter with one required setting.
type dummy struct {
	inst     adapters.InstanceConfig
	settings struct {
		Greeting string          `json:"greeting"`
		Token    adapters.Secret `json:"token"`
		Limit    int             `json:"limit"`
	}
}

func (d *dummy) Provision(ctx context.Context, inst adapters.InstanceConfig, deps adapters.Deps) error {
	d.inst = inst
	return adapters.DecodeSettings(inst.Settings, &d.settings, deps.Secrets)
}

func (d *dummy) Validate() error {
	if d.settings.Greeting == "" {
		return errors.New("settings.greeting: required")
	}
	return nil
}

func init() {
	adapters.Register(adapters.AdapterInfo{ID: "test.dummy", New: func() adapters.Adapter { return new(dummy) }})
}

func TestRegisterPanics(t *testing.T) {
	for name, info := range map[string]adapters.AdapterInfo{
		"duplicate":   {ID: "test.dummy", New: func() adapters.Adapter { return new(dummy) }},
		"malformed":   {ID: "Dummy", New: func() adapters.Adapter { return new(dummy) }},
		"no function": {ID: "test.nil_constructor"},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", info.ID)
				}
			}()
			adapters.Register(info)
		})
	}
	if _, ok := adapters.Lookup("test.nil_constructor"); ok {
		t.Errorf("a refused registration was kept")
	}
}

func TestLookupAndIDs(t *testing.T) {
	if _, ok := adapters.Lookup("test.dummy"); !ok {
		t.Fatal("test.dummy not found")
	}
	ids := adapters.IDs()
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Errorf("IDs not sorted: %v", ids)
		}
	}
}

func TestProvision(t *testing.T) {
	env := map[string]string{"DUMMY_TOKEN": "t0k"}
	deps := adapters.Deps{Secrets: adapters.EnvFileSecrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok })}
	a, err := adapters.Provision(context.Background(), adapters.InstanceConfig{
		Name: "d-1", Adapter: "test.dummy", Currency: "KES",
		Settings: map[string]any{"greeting": "hi", "token": "env:DUMMY_TOKEN", "limit": uint64(3)},
	}, deps)
	if err != nil {
		t.Fatal(err)
	}
	d := a.(*dummy)
	if d.inst.Tenant != "default" || d.settings.Token.Value() != "t0k" || d.settings.Limit != 3 {
		t.Errorf("provisioned %+v %+v", d.inst, d.settings)
	}
}

func TestProvisionErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  adapters.InstanceConfig
		want string
	}{
		{adapters.InstanceConfig{Name: "Bad Name", Adapter: "test.dummy", Currency: "KES"}, `adapters: instance "Bad Name": name "Bad Name": want`},
		{adapters.InstanceConfig{Name: "d", Currency: "KES"}, `adapters: instance "d": adapter: required`},
		{adapters.InstanceConfig{Name: "d", Adapter: "payments.nothing", Currency: "KES"}, `adapter "payments.nothing" is not built in`},
		{adapters.InstanceConfig{Name: "d", Adapter: "payments.nothing"}, `adapters: instance "d": currency: required of a payment adapter`},
		{adapters.InstanceConfig{Name: "d", Adapter: "test.dummy"}, `adapters: instance "d" (test.dummy): settings.greeting: required`},
		{adapters.InstanceConfig{Name: "d", Adapter: "test.dummy", Currency: "kes"}, `currency: core: currency "kes"`},
		{adapters.InstanceConfig{Name: "d", Adapter: "test.dummy", Currency: "XYZ"}, `currency: XYZ: minor-unit exponent not known`},
		{adapters.InstanceConfig{Name: "d", Adapter: "test.dummy", Currency: "KES"}, `adapters: instance "d" (test.dummy): settings.greeting: required`},
		{adapters.InstanceConfig{Name: "d", Adapter: "test.dummy", Currency: "KES", Settings: map[string]any{"greting": "x"}}, `settings.greting: unknown setting`},
		{adapters.InstanceConfig{Name: "d", Adapter: "test.dummy", Currency: "KES", Settings: map[string]any{"limit": "many"}}, `settings.limit: want integer, got string`},
		{adapters.InstanceConfig{Name: "d", Adapter: "test.dummy", Currency: "KES", Settings: map[string]any{"token": 5}}, `settings.token: want string, got number`},
		{adapters.InstanceConfig{Name: "d", Adapter: "test.dummy", Currency: "KES", Settings: map[string]any{"token": "file:/nonexistent/secret"}}, `settings.token: read secret file`},
	} {
		_, err := adapters.Provision(context.Background(), tc.cfg, adapters.Deps{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestProvisionAll(t *testing.T) {
	ok := func(name string) adapters.InstanceConfig {
		return adapters.InstanceConfig{Name: name, Adapter: "test.dummy", Currency: "KES", Settings: map[string]any{"greeting": "hi"}}
	}
	got, err := adapters.ProvisionAll(context.Background(), []adapters.InstanceConfig{ok("a"), ok("b")}, adapters.Deps{})
	if err != nil || len(got) != 2 || got["a"] == nil || got["b"] == nil {
		t.Fatalf("got %v, %v", got, err)
	}
	bad := ok("c")
	bad.Settings = nil
	_, err = adapters.ProvisionAll(context.Background(), []adapters.InstanceConfig{ok("a"), ok("a"), bad}, adapters.Deps{})
	if err == nil || !strings.Contains(err.Error(), `instances[1]: name "a" is used twice`) || !strings.Contains(err.Error(), `instance "c"`) {
		t.Fatalf("got %v, want both errors", err)
	}
}

func TestSecretHidesValue(t *testing.T) {
	s := adapters.NewSecret("hunter2")
	for _, out := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v", s), s.LogValue().String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
}

// Only payment adapters need a currency: an SMS instance moves no money.
func TestCurrencyRequiredOfPaymentAdapters(t *testing.T) {
	for _, tc := range []struct {
		adapter string
		wantErr bool
	}{
		{"payments.mpesa", true},
		{"payments.mtn_momo", true},
		{"sms.africastalking", false},
		{"sms.twilio", false},
	} {
		got, err := adapters.InstanceConfig{Name: "i-1", Adapter: tc.adapter}.Check()
		if (err != nil) != tc.wantErr {
			t.Errorf("%s without a currency: %v, want an error: %v", tc.adapter, err, tc.wantErr)
		}
		if err == nil && (got.Currency != "" || got.Tenant != "default") {
			t.Errorf("%s: checked %+v", tc.adapter, got)
		}
	}
	if _, err := (adapters.InstanceConfig{Name: "i-1", Adapter: "sms.twilio", Currency: "kes"}).Check(); err == nil {
		t.Error("sms.twilio with currency \"kes\": no error; a currency given is still checked")
	}
}
