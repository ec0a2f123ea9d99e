package config

import (
	"strings"
	"testing"
)

func TestAPIRateLimit(t *testing.T) {
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.RateLimitPerSecond != 20 || cfg.API.RateBurst != 40 {
		t.Errorf("defaults: rate %d burst %d, want 20 and 40", cfg.API.RateLimitPerSecond, cfg.API.RateBurst)
	}

	cfg, err = Load(writeFile(t, "api:\n  rate_limit_per_second: 5\n  rate_burst: 7\n"),
		env(map[string]string{"GATEWAY_API_RATE_BURST": "9"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.RateLimitPerSecond != 5 || cfg.API.RateBurst != 9 {
		t.Errorf("file then env: rate %d burst %d, want 5 and 9", cfg.API.RateLimitPerSecond, cfg.API.RateBurst)
	}

	// 0 turns the limit off, and then the burst does not matter.
	if _, err := Load(writeFile(t, "api:\n  rate_limit_per_second: 0\n  rate_burst: 0\n"), env(nil)); err != nil {
		t.Errorf("rate limit off: %v", err)
	}
	for yaml, want := range map[string]string{
		"api:\n  rate_limit_per_second: -1\n":  "api.rate_limit_per_second: must be 0 (no limit) or positive",
		"api:\n  rate_burst: 0\n":              "api.rate_burst: must be at least 1",
		"api:\n  rate_limit_per_second: 2.5\n": "api.rate_limit_per_second: want an integer",
		"api:\n  rate: 1\n":                    `api.rate: unknown key`,
	} {
		_, err := Load(writeFile(t, yaml), env(nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q) = %v, want an error containing %q", yaml, err, want)
		}
	}
}
