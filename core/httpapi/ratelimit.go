package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// keyLimiter keeps one token bucket per API key id. A bucket idle long
// enough to have refilled is indistinguishable from a new one, so such
// buckets are dropped now and then to bound memory.
type keyLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newKeyLimiter(perSecond float64, burst int, now func() time.Time) *keyLimiter {
	return &keyLimiter{
		limit:   rate.Limit(perSecond),
		burst:   burst,
		now:     now,
		buckets: make(map[string]*bucket),
	}
}

// allow takes a token from id's bucket, or says how long until one is due.
func (l *keyLimiter) allow(id string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, found := l.buckets[id]
	if !found {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[id] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second // burst < 1: never allowed; say retry later
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request spends no token
		return false, d
	}
	return true, 0
}

// sweep drops buckets that have been idle long enough to be full again,
// at most once a minute.
func (l *keyLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	refill := time.Duration(float64(l.burst)/float64(l.limit)*float64(time.Second)) + time.Second
	for id, b := range l.buckets {
		if now.Sub(b.seen) > refill {
			delete(l.buckets, id)
		}
	}
}

// rateLimit answers 429 with Retry-After (whole seconds, at least 1) when
// the authenticated key has used up its bucket.
func (s *Server) rateLimit(c *gin.Context) {
	if s.limiter == nil {
		c.Next()
		return
	}
	key, _ := APIKeyFrom(c.Request.Context())
	ok, wait := s.limiter.allow(key.ID)
	if !ok {
		secs := max(1, int(math.Ceil(wait.Seconds())))
		c.Header("Retry-After", strconv.Itoa(secs))
		writeProblem(c, http.StatusTooManyRequests,
			fmt.Sprintf("rate limit of this API key exceeded; retry after %d s", secs))
		return
	}
	c.Next()
}
