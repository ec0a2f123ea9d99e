package core

import (
	"encoding/base64"
	"strings"
	"time"
)

// Page sizes of list methods.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// PageRequest asks a list method for one page of a stable order.
type PageRequest struct {
	// Limit is the most items to return: 0 means DefaultPageLimit; more
	// than MaxPageLimit is EINVALID.
	Limit int
	// Cursor is the NextCursor of the previous page; empty for the first.
	Cursor string
}

// Page is one page of a list. NextCursor is empty on the last page.
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// Cursor is a position in a list ordered by (created_at, id): the last item
// of a page. It is opaque to callers; Encode and ParseCursor turn it into
// and from the text a caller passes back. Tenant scoping never depends on
// it, so a forged cursor can only move within the caller's own rows.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Encode renders the cursor as URL-safe text.
func (c Cursor) Encode() string {
	raw := c.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseCursor reads a cursor written by Encode; EINVALID if it is not one.
func ParseCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, Errorf(EINVALID, "cursor: not a cursor returned by this API")
	}
	ts, id, ok := strings.Cut(string(b), "|")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || id == "" {
		return Cursor{}, Errorf(EINVALID, "cursor: not a cursor returned by this API")
	}
	return Cursor{CreatedAt: t.UTC(), ID: id}, nil
}

// Resolve checks the request and returns its limit and, after the first
// page, the position to continue after.
func (p PageRequest) Resolve() (limit int, after *Cursor, err error) {
	switch {
	case p.Limit == 0:
		limit = DefaultPageLimit
	case p.Limit < 0 || p.Limit > MaxPageLimit:
		return 0, nil, Errorf(EINVALID, "limit %d: want 1 to %d", p.Limit, MaxPageLimit)
	default:
		limit = p.Limit
	}
	if p.Cursor == "" {
		return limit, nil, nil
	}
	c, err := ParseCursor(p.Cursor)
	if err != nil {
		return 0, nil, err
	}
	return limit, &c, nil
}
