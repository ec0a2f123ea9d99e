package core

import (
	"context"
	"regexp"
	"time"
)

// DefaultTenantID is the tenant every store creates in its first migration. A
// single-distributor deployment uses it without ever naming it.
const DefaultTenantID = "default"

// Tenant is a distributor. Every business row belongs to exactly one tenant.
type Tenant struct {
	ID   string
	Name string
	// TimeZone is the IANA zone in which the tenant's contract dates, due
	// dates and quiet hours are reckoned.
	TimeZone string
	// DefaultCountry is the ISO 3166-1 alpha-2 code used to normalise phone
	// numbers written without a country prefix; empty means none.
	DefaultCountry string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

var (
	tenantIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	countryPattern  = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Validate checks the tenant's fields and returns an EINVALID error naming
// the first bad one.
func (t *Tenant) Validate() error {
	switch {
	case !tenantIDPattern.MatchString(t.ID):
		return Errorf(EINVALID, "tenant id %q: want 1-63 characters of a-z, 0-9, '_' or '-', starting with a letter or digit", t.ID)
	case t.Name == "":
		return Errorf(EINVALID, "tenant name: required")
	case t.DefaultCountry != "" && !countryPattern.MatchString(t.DefaultCountry):
		return Errorf(EINVALID, "tenant default_country %q: want an ISO 3166-1 alpha-2 code such as KE", t.DefaultCountry)
	}
	if _, err := time.LoadLocation(t.TimeZone); err != nil || t.TimeZone == "" {
		return Errorf(EINVALID, "tenant time_zone %q: want an IANA zone such as Africa/Nairobi", t.TimeZone)
	}
	return nil
}

// TenantService stores tenants.
type TenantService interface {
	// CreateTenant stores a new tenant; ECONFLICT if the id is taken.
	CreateTenant(ctx context.Context, t Tenant) (Tenant, error)
	// Tenant returns one tenant; ENOTFOUND if it does not exist.
	Tenant(ctx context.Context, id string) (Tenant, error)
	// Tenants lists every tenant ordered by id.
	Tenants(ctx context.Context) ([]Tenant, error)
}
