package resilience

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards TCP connections to a target (PostgreSQL) and can cut
// them: an outage of the database as its clients see it, without touching
// the database itself (other engineers' tests use it).
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string // where it listens, kept across cuts

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	down  bool
	gate  chan struct{} // non-nil while stalled; closed when traffic flows again
	// stranded connections never carry another byte (a failed-over
	// database's old connections); closing ends them at close.
	stranded map[net.Conn]bool
	closing  chan struct{}
	wg       sync.WaitGroup
}

// newProxy listens on loopback and forwards to target (host:port).
func newProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: target, addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{},
		stranded: map[net.Conn]bool{}, closing: make(chan struct{})}
	p.wg.Go(func() { p.serve(ln) })
	t.Cleanup(p.close)
	return p
}

// pgTarget is the host:port of a PostgreSQL URL.
func pgTarget(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Fatalf("the PostgreSQL test DSN must be a postgres:// URL with a host for the proxy")
	}
	host := u.Host
	if u.Port() == "" {
		host += ":5432"
	}
	return host
}

func (p *tcpProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed by cut or close
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	p.waitFlowing()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			c.Close()
			up.Close()
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, up)
			p.mu.Unlock()
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.copy(up, c, c); closeBoth() })
	wg.Go(func() { p.copy(c, up, c); closeBoth() })
	wg.Wait()
}

// copy forwards src to dst (of the client connection c), holding bytes
// back while the proxy is stalled, and for good once c is stranded.
func (p *tcpProxy) copy(dst io.Writer, src io.Reader, c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.waitFlowing()
			p.mu.Lock()
			stranded := p.stranded[c]
			p.mu.Unlock()
			if stranded {
				<-p.closing
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// waitFlowing returns once the proxy is not stalled.
func (p *tcpProxy) waitFlowing() {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	if gate != nil {
		<-gate
	}
}

// stall stops forwarding without closing anything: a database (or a
// network path) that has gone silent. New connections are accepted and
// held too.
func (p *tcpProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate == nil {
		p.gate = make(chan struct{})
	}
}

// flow ends a stall.
func (p *tcpProxy) flow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
}

// cut closes every connection (with a reset, as a dead server's kernel
// would) and refuses new ones until restore.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	_ = p.ln.Close()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
}

// restore listens again on the same address.
func (p *tcpProxy) restore() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.down = ln, false
	p.mu.Unlock()
	p.wg.Go(func() { p.serve(ln) })
}

// strand makes every open connection go silent for good, while new ones
// work: the database failed over to a new machine, and the old one's
// connections will never answer (no reset, no FIN).
func (p *tcpProxy) strand() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		p.stranded[c] = true
	}
	return len(p.conns) / 2
}

func (p *tcpProxy) close() {
	close(p.closing)
	p.flow()
	p.cut()
	p.wg.Wait()
}
