package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
)

// This file is the client side of `silo serve`: the --remote flag of
// store, restore and projects list, and the HTTP client they share.

// withRemote adds --remote and --token to a command: with --remote, run is
// called instead of the command's local action.
func withRemote(cmd *cli.Command, run cli.ActionFunc) *cli.Command {
	cmd.Flags = append(cmd.Flags,
		&cli.StringFlag{Name: "remote", Usage: "use the `URL` of a `silo serve` (e.g. http://127.0.0.1:8080) instead of a local repository"},
		&cli.StringFlag{Name: "token", Usage: "bearer `TOKEN` for --remote (default: STORAGE_API_TOKEN or api.token)"})
	local := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		if c.String("remote") != "" {
			return run(c)
		}
		if c.IsSet("token") {
			return usagef("--token goes with --remote")
		}
		return local(c)
	}
	return cmd
}

// withRemoteSub applies withRemote to the subcommand name of cmd.
func withRemoteSub(cmd *cli.Command, name string, run cli.ActionFunc) *cli.Command {
	for i, sub := range cmd.Subcommands {
		if sub.Name == name {
			cmd.Subcommands[i] = withRemote(sub, run)
		}
	}
	return cmd
}

// remoteClient talks to a silo server's /api/storage.
type remoteClient struct {
	base  string // scheme://host[:port], no trailing slash
	token string
	hc    *http.Client
}

func newRemote(e *env) (*remoteClient, error) {
	raw := e.c.String("remote")
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--remote %q: want http://HOST:PORT", raw)
	}
	token := e.c.String("token")
	if token == "" {
		token = e.cfg.API.Token // api.token, or STORAGE_API_TOKEN
	}
	base := strings.TrimSuffix(u.Scheme+"://"+u.Host+strings.TrimSuffix(u.Path, "/"), "/api/storage")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = 10 * time.Minute // a commit walks the whole tree first
	return &remoteClient{base: base, token: token, hc: &http.Client{Transport: tr}}, nil
}

// remoteError is an error answer of the server. It unwraps to the store's
// sentinel for its code, so exit codes match local commands.
type remoteError struct {
	Status  int
	Code    string
	Message string
	Details json.RawMessage
}

func (e *remoteError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

func (e *remoteError) Unwrap() error { return store.KindOfCode(e.Code).Err() }

// request sends one request to path (below the server root) and decodes a
// JSON answer into out (when not nil). Error answers become *remoteError.
func (rc *remoteClient) request(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string, out any) error {
	resp, err := rc.send(ctx, method, path, q, body, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// remoteRetries bounds how often a request the server answered 429 (too
// many uploads from this client at once) is sent again.
const remoteRetries = 8

// send sends a request and returns a 2xx response (the caller closes it).
// A 429 answer is retried after its Retry-After (at most 2 s here), when
// the body can be sent again.
func (rc *remoteClient) send(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, retryAfter, err := rc.sendOnce(ctx, method, path, q, body, ctype)
		var re *remoteError
		rewind, canRewind := body.(io.Seeker)
		if !errors.As(err, &re) || re.Status != http.StatusTooManyRequests || attempt >= remoteRetries || (body != nil && !canRewind) {
			return resp, err
		}
		if body != nil {
			if _, serr := rewind.Seek(0, io.SeekStart); serr != nil {
				return nil, err
			}
		}
		select {
		case <-time.After(min(retryAfter, 2*time.Second) + time.Duration(attempt)*50*time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (rc *remoteClient) sendOnce(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string) (*http.Response, time.Duration, error) {
	u := rc.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, 0, err
	}
	if rc.token != "" {
		req.Header.Set("Authorization", "Bearer "+rc.token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	resp, err := rc.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, 0, nil
	}
	defer resp.Body.Close()
	var retryAfter time.Duration
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n >= 0 {
		retryAfter = time.Duration(n) * time.Second
	}
	var eb struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
		return nil, retryAfter, &remoteError{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
	}
	return nil, retryAfter, &remoteError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Details: eb.Error.Details}
}

// postJSON sends v as JSON.
func (rc *remoteClient) postJSON(ctx context.Context, path string, v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return rc.request(ctx, http.MethodPost, path, nil, bytes.NewReader(b), "application/json", out)
}

func apiPath(parts ...string) string {
	var b strings.Builder
	b.WriteString("/api/storage")
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}
