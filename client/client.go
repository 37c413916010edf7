// Package client is the Go client of silo's HTTP API (silo serve): requests
// carry the bearer token, an error answer comes back as *Error (which
// unwraps to the store's sentinel for its code, so errors.Is and exit codes
// read as they do locally), a 429 is retried after its Retry-After, and
// Blobs speaks the dedup upload protocol as a snapshot BlobSaver and
// BlobLoader. `silo ... --remote` and bench/loadtest use it.
package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/silo-dev/silo/crypt"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store"
)

// Client talks to one silo server's /api/storage. It is safe for
// concurrent use.
type Client struct {
	base  string // scheme://host[:port], no trailing slash
	token string
	hc    *http.Client
	ids   *crypt.Keys // the server repository's id key (encrypted); nil: plain ids
}

// Repository asks the server how its repository chunks and names blobs
// (GET /repository) and sets the client up to compute its ids: for an
// encrypted repository the polynomial and the id key come from GET
// /repository/blob-keys, and ID becomes keyed. Every user of the blob
// protocol calls it first.
func (c *Client) Repository(ctx context.Context) (RepositoryInfo, error) {
	var info RepositoryInfo
	if err := c.Request(ctx, http.MethodGet, Path("repository"), nil, nil, "", &info); err != nil {
		return info, err
	}
	if !info.Encrypted {
		return info, nil
	}
	var keys BlobKeys
	if err := c.Request(ctx, http.MethodGet, Path("repository", "blob-keys"), nil, nil, "", &keys); err != nil {
		return info, err
	}
	key, err := hex.DecodeString(keys.IDKey)
	if err == nil {
		err = c.SetIDKey(key)
	}
	if err != nil {
		return info, fmt.Errorf("%w: the server's blob id key: %v", store.ErrInvalid, err)
	}
	info.ChunkerPolynomial = keys.ChunkerPolynomial
	return info, nil
}

// SetIDKey makes the client compute blob ids as an encrypted repository
// does (keyed BLAKE3 with key, from GET /repository/blob-keys).
func (c *Client) SetIDKey(key []byte) error {
	ids, err := crypt.IDKeys(key)
	if err != nil {
		return err
	}
	c.ids = ids
	return nil
}

// ID returns the id the server's repository gives plain bytes.
func (c *Client) ID(plain []byte) object.ID {
	if c.ids == nil {
		return object.Hash(plain)
	}
	return object.ID(c.ids.BlobID(plain))
}

// New returns a client of the server at rawURL (http://HOST:PORT, with or
// without /api/storage) that sends token (none when empty).
func New(rawURL, token string) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: want http://HOST:PORT", rawURL)
	}
	base := strings.TrimSuffix(u.Scheme+"://"+u.Host+strings.TrimSuffix(u.Path, "/"), "/api/storage")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = 10 * time.Minute // a commit walks the whole tree first
	return &Client{base: base, token: token, hc: &http.Client{Transport: tr}}, nil
}

// NewWith returns a client of base (scheme://host[:port]) over hc.
func NewWith(base, token string, hc *http.Client) *Client {
	return &Client{base: strings.TrimSuffix(base, "/"), token: token, hc: hc}
}

// Base is the server's address, for messages.
func (c *Client) Base() string { return c.base }

// Error is an error answer of the server. It unwraps to the store's
// sentinel for its code, so exit codes match local commands.
type Error struct {
	Status  int
	Code    string
	Message string
	Details json.RawMessage
	// RetryAfter is the answer's Retry-After (0 when it has none).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return store.KindOfCode(e.Code).Err() }

// Request sends one request to path (below the server root) and decodes a
// JSON answer into out (when not nil). Error answers become *Error.
func (c *Client) Request(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string, out any) error {
	resp, err := c.Send(ctx, method, path, q, body, ctype)
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

// retries bounds how often a request the server answered 429 (too
// many uploads from this client at once) is sent again.
const retries = 8

// Send sends a request and returns a 2xx response (the caller closes it).
// A 429 answer is retried after its Retry-After (at most 2 s here), when
// the body can be sent again.
func (c *Client) Send(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		req, err := c.NewRequest(ctx, method, path, q, body)
		if err != nil {
			return nil, err
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.Do(req)
		var re *Error
		rewind, canRewind := body.(io.Seeker)
		if !errors.As(err, &re) || re.Status != http.StatusTooManyRequests || attempt >= retries || (body != nil && !canRewind) {
			return resp, err
		}
		if body != nil {
			if _, serr := rewind.Seek(0, io.SeekStart); serr != nil {
				return nil, err
			}
		}
		select {
		case <-time.After(min(re.RetryAfter, 2*time.Second) + time.Duration(attempt)*50*time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// NewRequest returns a request for path (below the server root) with the
// query q and the token; add headers, then send it with Do.
func (c *Client) NewRequest(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Request, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	return req, nil
}

// Do sends req once and returns a 2xx response (the caller closes it); an
// error answer is an *Error.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
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
		return nil, &Error{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data)), RetryAfter: retryAfter}
	}
	return nil, &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Details: eb.Error.Details, RetryAfter: retryAfter}
}

// PostJSON sends v as JSON.
func (c *Client) PostJSON(ctx context.Context, path string, v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Request(ctx, http.MethodPost, path, nil, bytes.NewReader(b), "application/json", out)
}

// Path is the API path of parts below /api/storage, each escaped.
func Path(parts ...string) string {
	var b strings.Builder
	b.WriteString("/api/storage")
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

// Versions fetches a project's versions (newest first); a project the
// server does not know gives none.
func (c *Client) Versions(ctx context.Context, project string) ([]Version, error) {
	var ans VersionList
	err := c.Request(ctx, http.MethodGet, Path("projects", project, "versions"), nil, nil, "", &ans)
	var re *Error
	if errors.As(err, &re) && re.Status == http.StatusNotFound {
		return nil, nil
	}
	return ans.Versions, err
}

// LoadBlob downloads a blob and verifies it against its id.
func (c *Client) LoadBlob(ctx context.Context, id object.ID, dst []byte) ([]byte, error) {
	resp, err := c.Send(ctx, http.MethodGet, Path("blobs", id.String()), nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", id.Short(), err)
	}
	defer resp.Body.Close()
	buf := bytes.NewBuffer(dst[:0])
	if _, err := io.Copy(buf, io.LimitReader(resp.Body, store.MaxTreeBlob+1)); err != nil {
		return nil, fmt.Errorf("blob %s: %w", id.Short(), err)
	}
	data := buf.Bytes()
	if c.ID(data) != id {
		return nil, fmt.Errorf("blob %s from the server: %w: content does not match its id", id.Short(), object.ErrCorrupt)
	}
	return data, nil
}
