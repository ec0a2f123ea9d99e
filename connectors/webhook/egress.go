package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Egress says which addresses deliveries may reach. The zero value allows
// only public unicast addresses: an endpoint URL cannot be used to probe
// the gateway's own network. Link-local (cloud metadata at
// 169.254.169.254), unspecified, broadcast and multicast addresses are
// always refused.
type Egress struct {
	// AllowPrivate allows RFC 1918, RFC 4193 (fc00::/7) and carrier-grade
	// NAT (100.64.0.0/10) addresses: a CRM on the distributor's own
	// network.
	AllowPrivate bool
	// AllowLoopback allows 127.0.0.0/8 and ::1 (tests, a CRM on the same
	// host).
	AllowLoopback bool
}

// ErrEgressRefused is wrapped by errors for addresses Egress refuses.
var ErrEgressRefused = errors.New("webhook: destination address refused by the egress policy")

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	broadcast = netip.MustParseAddr("255.255.255.255")
)

// Check returns an ErrEgressRefused error when ip may not be reached.
func (g Egress) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	refuse := func(what string) error { return fmt.Errorf("%w: %s is %s", ErrEgressRefused, ip, what) }
	switch {
	case !ip.IsValid():
		return refuse("not an address")
	case ip.IsUnspecified() || thisNet.Contains(ip):
		return refuse("unspecified")
	case ip.IsLoopback():
		if g.AllowLoopback {
			return nil
		}
		return refuse("loopback")
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return refuse("link-local")
	case ip.IsMulticast() || ip == broadcast:
		return refuse("multicast or broadcast")
	case ip.IsPrivate() || cgnat.Contains(ip):
		if g.AllowPrivate {
			return nil
		}
		return refuse("private")
	}
	return nil
}

// control is a net.Dialer Control function: it runs after name
// resolution, on the address actually dialled, so a DNS answer that
// changes between a check and the connection (rebinding) cannot slip
// through.
func (g Egress) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrEgressRefused, address)
	}
	return g.Check(ap.Addr())
}

// NewClient returns the HTTP client deliveries use: every connection is
// checked by g at dial time, no proxy from the environment (the check
// would see the proxy, not the endpoint), no redirects followed (a 3xx is
// a failed attempt), and timeout bounds each request.
func NewClient(g Egress, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
