package server

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Requests from web pages and DNS rebinding.
//
// A page in the user's browser can send requests to 127.0.0.1 (a form
// POST, fetch with mode no-cors), and a page whose host name the attacker
// re-points at 127.0.0.1 can even read the answers. Neither carries the
// bearer token when there is one, but the API may run without one on
// loopback. So every request is checked before routing:
//
//   - its Host must be a loopback name or address (localhost, 127.0.0.0/8,
//     ::1; with or without a port), the host of the address the server
//     listens on when that is not a wildcard (Options.AllowedHosts), or one
//     of api.allowed_hosts; anything else is answered 421 Misdirected
//     Request, code "forbidden_host";
//   - an Origin header, when present, must be the server's own origin,
//     http(s)://<Host>; anything else (another site, "null") is answered
//     403, code "forbidden_origin". Programs (curl, the CLI, the Python
//     client) send no Origin.

// hostGuard decides which Host values the server answers.
type hostGuard struct {
	any   bool                // "*" allowed: no check
	names map[string]struct{} // host or host:port, lower case
}

func newHostGuard(allowed []string) *hostGuard {
	g := &hostGuard{names: map[string]struct{}{}}
	for _, h := range allowed {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "*" {
			g.any = true
		}
		if h != "" {
			g.names[strings.TrimSuffix(h, ".")] = struct{}{}
		}
	}
	return g
}

// hostPart splits a Host header into its host (without brackets) and port.
func hostPart(hostport string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), ""
}

// allowed reports whether a request's Host may be answered.
func (g *hostGuard) allowed(hostport string) bool {
	if g.any {
		return true
	}
	hostport = strings.ToLower(hostport)
	host, port := hostPart(hostport)
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	if _, ok := g.names[host]; ok {
		return true
	}
	if port != "" {
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		_, ok := g.names[host+":"+port]
		return ok
	}
	return false
}

var errForbiddenOrigin = &apiError{status: http.StatusForbidden, code: "forbidden_origin"}

// guard checks Host and Origin; it answers and returns false when the
// request must not be served.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) bool {
	if !s.hosts.allowed(r.Host) {
		writeError(w, r, &apiError{status: http.StatusMisdirectedRequest, code: "forbidden_host",
			msg: fmt.Sprintf("Host %q is not served here: use a loopback address or a name listed in api.allowed_hosts", r.Host)})
		return false
	}
	origin, ok := r.Header["Origin"]
	if !ok {
		return true
	}
	o := ""
	if len(origin) == 1 {
		o = strings.ToLower(strings.TrimSuffix(origin[0], "/"))
	}
	host := strings.ToLower(r.Host)
	if o == "http://"+host || o == "https://"+host {
		return true
	}
	e := *errForbiddenOrigin
	e.msg = fmt.Sprintf("cross-origin request from %q refused: the API answers requests from its own origin (http://%s) or without an Origin header", strings.Join(origin, ", "), r.Host)
	writeError(w, r, &e)
	return false
}
