// Package config holds silo's storage configuration.
//
// Settings come from three layers, each overriding the one before:
//
//  1. the file config/storage.yaml (relative to the working directory; a
//     missing file is fine, every setting has a default),
//  2. environment variables (STORAGE_*, and AWS_* for S3),
//  3. explicit overrides such as CLI flags, applied with Config.Set.
//
// The file keeps every setting under a top-level "storage:" key:
//
//	storage:
//	  base_path: "./storage"          # local path or s3://bucket/prefix
//	  max_project_size: "10GB"        # size (default 10GB, the guide's); 0 = unlimited
//	  total_quota: "1TB"              # size; 0 or absent = unlimited
//	  archive_after_days: 90
//	  archive_export: true            # archiving writes archives/YYYY/MM/<id>.tar.gz
//	  purge_deleted_after_days: 30
//	  cleanup_enabled: true
//	  cleanup_schedule: "0 3 * * *"   # cron, 5 fields
//	  compression_level: 3            # 1..19, see below
//	  pack_size: "16MiB"              # 1MiB..256MiB
//	  repack_threshold: 0.10          # 0 < x < 1
//	  cache_dir: ""                   # default ~/.cache/silo (Windows: %LOCALAPPDATA%\silo)
//	  max_entries: 10000000           # entries (files, dirs, links) of one version; 0 = unlimited
//	  api:
//	    addr: "127.0.0.1:8080"
//	    token: ""
//	    allowed_hosts: []             # Host names answered besides loopback (and api.addr's host)
//	    extract_roots: []             # absolute dirs extract may write into; default: cache/ only
//	    backup_destinations: []       # backup destinations a request may name besides backup.destination
//	  backup:
//	    enabled: false
//	    frequency: "daily"            # hourly | daily | weekly | monthly | 5-field cron
//	    retention_days: 30
//	    compression: true
//	    destination: "./backups"      # path or s3://bucket/prefix
//	  s3:
//	    endpoint: ""                  # e.g. http://127.0.0.1:9000 (http = no TLS)
//	    region: ""
//	    access_key_id: ""
//	    secret_access_key: ""
//	    session_token: ""
//
// A key given with no value (null) is treated as absent and keeps its default.
// List keys (api.allowed_hosts, api.extract_roots, api.backup_destinations)
// take a YAML list or a single value; given to Set or in the environment
// they are comma-separated.
//
// Compression levels follow zstd numbering and are mapped onto the four
// klauspost/compress/zstd encoder levels by zstd.EncoderLevelFromZstd:
// 1-2 SpeedFastest, 3-5 SpeedDefault, 6-9 SpeedBetterCompression,
// 10-19 SpeedBestCompression. (zstd's "ultra" levels 20-22 have no
// counterpart there and are rejected.)
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// File is the configuration file, relative to the working directory. Sources
// and error messages name it this way.
const File = "config/storage.yaml"

// maxFileSize bounds the configuration file Load reads.
const maxFileSize = 1 << 20

// maxErrors bounds how many problems Load reports at once.
const maxErrors = 20

// Config is silo's effective storage configuration. Sizes are in bytes, 0
// meaning unlimited. A Config is not safe for concurrent mutation.
type Config struct {
	BasePath         string // local path or s3://bucket/prefix
	MaxProjectSize   int64  // bytes, 0 = unlimited; default 10 GB
	TotalQuota       int64  // bytes, 0 = unlimited
	ArchiveAfterDays int    // >= 0
	// ArchiveExport makes archiving (cleanup, the schedule, archive
	// without --export=false) write archives/YYYY/MM/<project-id>.tar.gz,
	// the storage guide's layout. Default true.
	ArchiveExport         bool
	PurgeDeletedAfterDays int     // >= 0; cleanup purges soft-deleted projects older than this
	CleanupEnabled        bool    //
	CleanupSchedule       string  // 5-field cron expression
	CompressionLevel      int     // zstd level 1..19 (see package doc for the mapping)
	PackSize              int64   // bytes, 1MiB..256MiB
	RepackThreshold       float64 // 0 < x < 1
	CacheDir              string  // local cache for remote repositories
	MaxEntries            int64   // entries (files, dirs, symlinks) of one version, 0 = unlimited

	API    APIConfig
	Backup BackupConfig
	S3     S3Config
	Hooks  HooksConfig
	// Filters are the content filters (storage.filters), by name.
	Filters []Filter

	sources         map[string]string // key -> source, for keys not at their default
	defaultCacheDir string            // what cache_dir "" stands for
}

// APIConfig configures the HTTP API.
type APIConfig struct {
	Addr  string // host:port
	Token string // secret
	// AllowedHosts are the Host header values (name or IP, optionally
	// with :port; "*" = any) the API answers besides loopback names and
	// the host of Addr.
	AllowedHosts []string
	// ExtractRoots are the absolute directories an extract request may
	// write into (nil: only the repository's cache/).
	ExtractRoots []string
	// BackupDestinations are the destinations (absolute paths or
	// s3://bucket/prefix) a backup request may name besides
	// Backup.Destination.
	BackupDestinations []string
}

// HookEvents are the events hooks run on, in the order the README lists
// them; pre_* hooks can veto their operation.
var HookEvents = []string{"pre_store", "on_store", "on_restore", "on_extract", "on_archive", "on_delete", "on_backup", "on_cleanup"}

// HooksConfig configures the commands and webhooks run on events.
type HooksConfig struct {
	// Commands maps an event (HookEvents) to a shell command.
	Commands map[string]string
	Timeout  time.Duration // per command; default 60s
	// Webhooks are URLs that receive every event as a JSON POST, signed
	// with WebhookSecret (HMAC-SHA256) when it is set.
	Webhooks      []string
	WebhookSecret string // secret
}

// Filter is one content filter (storage.filters.<name>), as git's clean
// and smudge: a stored file whose path matches one of Patterns (gitignore
// syntax, from the stored directory's top) is stored as what Clean prints
// for its content on stdin, and restored as what Smudge prints for the
// stored bytes. Both run through the shell.
type Filter struct {
	Name     string
	Patterns []string
	Clean    string
	Smudge   string
}

// BackupConfig configures backups.
type BackupConfig struct {
	Enabled       bool
	Frequency     string // hourly, daily, weekly, monthly or a 5-field cron expression
	RetentionDays int    // >= 0
	Compression   bool
	Destination   string // local path or s3://bucket/prefix
}

// S3Config holds S3 connection settings. Empty fields mean the client's
// defaults.
type S3Config struct {
	Endpoint        string // http(s)://host[:port]; http means no TLS
	Region          string
	AccessKeyID     string
	SecretAccessKey string // secret
	SessionToken    string // secret
}

// DefaultMaxEntries is the default of max_entries.
const DefaultMaxEntries = 10_000_000

// Entry is one setting as shown by `silo config show`.
type Entry struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// Default returns the built-in configuration.
func Default() *Config {
	return &Config{
		BasePath:              "./storage",
		MaxProjectSize:        10 * 1000 * 1000 * 1000, // the storage guide's 10 (GB)
		ArchiveAfterDays:      90,
		ArchiveExport:         true,
		PurgeDeletedAfterDays: 30,
		CleanupSchedule:       "0 3 * * *",
		CompressionLevel:      3,
		PackSize:              16 * MiB,
		RepackThreshold:       0.10,
		MaxEntries:            DefaultMaxEntries,
		API:                   APIConfig{Addr: "127.0.0.1:8080"},
		Hooks:                 HooksConfig{Timeout: time.Minute},
		Backup: BackupConfig{
			Frequency:     "daily",
			RetentionDays: 30,
			Compression:   true,
			Destination:   "./backups",
		},
	}
}

// Load builds the configuration: defaults, then dir/config/storage.yaml when
// it exists (a missing file is fine), then the environment. env returns ""
// for unset variables; pass os.Getenv in production. All problems found are
// reported together, each naming the key, where the value came from (file and
// line, or the variable) and what is allowed.
//
// With cache_dir empty, Load resolves it to $XDG_CACHE_HOME/silo (when that
// is an absolute path) or $HOME/.cache/silo, or where HOME is not set (as on
// Windows, unless a Unix-like shell sets it) %LOCALAPPDATA%\silo, read
// through env.
//
// Local paths (base_path, cache_dir, backup.destination and the path lists)
// take the platform's forms: on Windows D:\AI-Projects\storage and UNC
// paths (\\server\share\silo) are absolute; a leading "~" is the home
// directory (ExpandHome).
func Load(dir string, env func(string) string) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	c := Default()
	c.defaultCacheDir = defaultCacheDir(env)
	c.CacheDir = c.defaultCacheDir

	var errs errList
	data, err := readFile(filepath.Join(dir, File))
	switch {
	case err == nil:
		c.applyFile(data, &errs)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("%s: %w", File, err)
	}
	c.applyEnv(env, &errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Set applies one override by its key as written in the file ("base_path",
// "backup.destination", ...; a leading "storage." is accepted too). The value
// is validated as in the file. source names where it came from, e.g.
// "flag --repo"; Source reports it afterwards.
func (c *Config) Set(key, value, source string) error {
	if source == "" {
		source = "set"
	}
	key = strings.TrimPrefix(key, "storage.")
	k := byKey[key]
	if k == nil {
		return fmt.Errorf("%s: %s", source, unknownKey(key, "", allKeys()))
	}
	if err := k.set(c, value); err != nil {
		return fmt.Errorf("%s: storage.%s: %w", source, key, err)
	}
	c.setSource(key, source)
	return nil
}

// Source returns where the effective value of key came from: "default",
// "config/storage.yaml:LINE", "env NAME", or the source given to Set. It
// returns "" for an unknown key.
func (c *Config) Source(key string) string {
	key = strings.TrimPrefix(key, "storage.")
	if byKey[key] == nil {
		return ""
	}
	if s := c.sources[key]; s != "" {
		return s
	}
	return "default"
}

// Entries returns every setting in a stable order (the order of the file
// layout) with its effective value as text and its source. Secrets (api.token,
// s3.secret_access_key, s3.session_token) show as "***" when set.
func (c *Config) Entries() []Entry {
	out := make([]Entry, 0, len(keys))
	for _, k := range keys {
		v := k.get(c)
		if k.secret && v != "" {
			v = "***"
		}
		out = append(out, Entry{Key: k.name, Value: v, Source: c.Source(k.name)})
	}
	for _, f := range c.Filters {
		out = append(out, Entry{Key: "filters." + f.Name,
			Value:  fmt.Sprintf("pattern: %s; clean: %s; smudge: %s", strings.Join(f.Patterns, ", "), f.Clean, f.Smudge),
			Source: c.Source("filters." + f.Name)})
	}
	return out
}

// Keys returns every setting's key, in the order Entries uses.
func Keys() []string { return allKeys() }

func (c *Config) setSource(key, source string) {
	if c.sources == nil {
		c.sources = map[string]string{}
	}
	c.sources[key] = source
}

// ---- the settings ----

// key describes one setting.
type key struct {
	name   string   // YAML path below "storage", e.g. "backup.enabled"
	env    []string // environment variables, first set one wins
	isBool bool     // env value uses the lenient boolean syntax
	secret bool
	set    func(c *Config, v string) error
	get    func(c *Config) string
	// list keys: item validates and normalises one element; set and get
	// take and show the list comma-separated
	item func(v string) (string, error)
	list func(c *Config) *[]string
}

// listKey makes a key holding a list of values, each checked by item.
func listKey(name string, field func(c *Config) *[]string, item func(string) (string, error)) *key {
	return &key{name: name, item: item, list: field,
		set: func(c *Config, v string) error {
			var out []string
			for i, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				x, err := item(s)
				if err != nil {
					return fmt.Errorf("item %d: %w", i+1, err)
				}
				out = append(out, x)
			}
			*field(c) = out
			return nil
		},
		get: func(c *Config) string { return strings.Join(*field(c), ",") }}
}

var keys = []*key{
	{name: "base_path", env: []string{"STORAGE_BASE_PATH"},
		set: func(c *Config, v string) error { return setLocation(&c.BasePath, v) },
		get: func(c *Config) string { return c.BasePath }},
	{name: "max_project_size", env: []string{"STORAGE_MAX_PROJECT_SIZE"},
		set: func(c *Config, v string) error { return setQuota(&c.MaxProjectSize, v) },
		get: func(c *Config) string { return showQuota(c.MaxProjectSize) }},
	{name: "total_quota", env: []string{"STORAGE_TOTAL_QUOTA"},
		set: func(c *Config, v string) error { return setQuota(&c.TotalQuota, v) },
		get: func(c *Config) string { return showQuota(c.TotalQuota) }},
	{name: "archive_after_days",
		set: func(c *Config, v string) error { return setDays(&c.ArchiveAfterDays, v) },
		get: func(c *Config) string { return strconv.Itoa(c.ArchiveAfterDays) }},
	{name: "archive_export", env: []string{"STORAGE_ARCHIVE_EXPORT"},
		set: func(c *Config, v string) error { return setBool(&c.ArchiveExport, v) },
		get: func(c *Config) string { return strconv.FormatBool(c.ArchiveExport) }},
	{name: "purge_deleted_after_days",
		set: func(c *Config, v string) error { return setDays(&c.PurgeDeletedAfterDays, v) },
		get: func(c *Config) string { return strconv.Itoa(c.PurgeDeletedAfterDays) }},
	{name: "cleanup_enabled",
		set: func(c *Config, v string) error { return setBool(&c.CleanupEnabled, v) },
		get: func(c *Config) string { return strconv.FormatBool(c.CleanupEnabled) }},
	{name: "cleanup_schedule",
		set: func(c *Config, v string) error { return setCron(&c.CleanupSchedule, v) },
		get: func(c *Config) string { return c.CleanupSchedule }},
	{name: "compression_level",
		set: func(c *Config, v string) error { return setCompressionLevel(&c.CompressionLevel, v) },
		get: func(c *Config) string { return strconv.Itoa(c.CompressionLevel) }},
	{name: "pack_size",
		set: func(c *Config, v string) error { return setPackSize(&c.PackSize, v) },
		get: func(c *Config) string { return formatExactSize(c.PackSize) }},
	{name: "repack_threshold",
		set: func(c *Config, v string) error { return setThreshold(&c.RepackThreshold, v) },
		get: func(c *Config) string { return strconv.FormatFloat(c.RepackThreshold, 'g', -1, 64) }},
	{name: "cache_dir",
		set: func(c *Config, v string) error {
			if v == "" {
				c.CacheDir = c.defaultCacheDir
				return nil
			}
			return setLocalPath(&c.CacheDir, v)
		},
		get: func(c *Config) string { return c.CacheDir }},
	{name: "max_entries", env: []string{"STORAGE_MAX_ENTRIES"},
		set: func(c *Config, v string) error { return setCount(&c.MaxEntries, v) },
		get: func(c *Config) string { return showCount(c.MaxEntries) }},

	{name: "api.addr",
		set: func(c *Config, v string) error { return setAddr(&c.API.Addr, v) },
		get: func(c *Config) string { return c.API.Addr }},
	{name: "api.token", env: []string{"STORAGE_API_TOKEN"}, secret: true,
		set: func(c *Config, v string) error { c.API.Token = v; return nil },
		get: func(c *Config) string { return c.API.Token }},
	listKey("api.allowed_hosts", func(c *Config) *[]string { return &c.API.AllowedHosts }, checkHostItem),
	listKey("api.extract_roots", func(c *Config) *[]string { return &c.API.ExtractRoots }, checkAbsDir),
	listKey("api.backup_destinations", func(c *Config) *[]string { return &c.API.BackupDestinations }, checkDestination),

	{name: "backup.enabled", env: []string{"STORAGE_BACKUP_ENABLED"}, isBool: true,
		set: func(c *Config, v string) error { return setBool(&c.Backup.Enabled, v) },
		get: func(c *Config) string { return strconv.FormatBool(c.Backup.Enabled) }},
	{name: "backup.frequency",
		set: func(c *Config, v string) error { return setFrequency(&c.Backup.Frequency, v) },
		get: func(c *Config) string { return c.Backup.Frequency }},
	{name: "backup.retention_days",
		set: func(c *Config, v string) error { return setDays(&c.Backup.RetentionDays, v) },
		get: func(c *Config) string { return strconv.Itoa(c.Backup.RetentionDays) }},
	{name: "backup.compression",
		set: func(c *Config, v string) error { return setBool(&c.Backup.Compression, v) },
		get: func(c *Config) string { return strconv.FormatBool(c.Backup.Compression) }},
	{name: "backup.destination",
		set: func(c *Config, v string) error { return setLocation(&c.Backup.Destination, v) },
		get: func(c *Config) string { return c.Backup.Destination }},

	{name: "s3.endpoint", env: []string{"AWS_ENDPOINT_URL"},
		set: func(c *Config, v string) error { return setEndpoint(&c.S3.Endpoint, v) },
		get: func(c *Config) string { return c.S3.Endpoint }},
	{name: "s3.region", env: []string{"AWS_REGION", "AWS_DEFAULT_REGION"},
		set: func(c *Config, v string) error {
			return setToken(&c.S3.Region, v, "a region name such as us-east-1, or empty")
		},
		get: func(c *Config) string { return c.S3.Region }},
	{name: "s3.access_key_id", env: []string{"AWS_ACCESS_KEY_ID"},
		set: func(c *Config, v string) error {
			return setToken(&c.S3.AccessKeyID, v, "a key id without spaces, or empty")
		},
		get: func(c *Config) string { return c.S3.AccessKeyID }},
	{name: "s3.secret_access_key", env: []string{"AWS_SECRET_ACCESS_KEY"}, secret: true,
		set: func(c *Config, v string) error { c.S3.SecretAccessKey = v; return nil },
		get: func(c *Config) string { return c.S3.SecretAccessKey }},
	{name: "s3.session_token", env: []string{"AWS_SESSION_TOKEN"}, secret: true,
		set: func(c *Config, v string) error { c.S3.SessionToken = v; return nil },
		get: func(c *Config) string { return c.S3.SessionToken }},
}

// hookKeys are the hooks.<event> keys, one per event.
var hookKeys = func() []*key {
	var out []*key
	for _, ev := range HookEvents {
		out = append(out, &key{name: "hooks." + ev,
			set: func(c *Config, v string) error {
				if strings.ContainsRune(v, 0) {
					return fmt.Errorf("%s holds a NUL byte (allowed: a shell command, or empty)", quote(v))
				}
				if c.Hooks.Commands == nil {
					c.Hooks.Commands = map[string]string{}
				}
				c.Hooks.Commands[ev] = strings.TrimSpace(v)
				return nil
			},
			get: func(c *Config) string { return c.Hooks.Commands[ev] }})
	}
	return out
}()

func init() {
	keys = append(keys, hookKeys...)
	keys = append(keys,
		&key{name: "hooks.timeout",
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(strings.TrimSpace(v))
				if err != nil || d <= 0 {
					return fmt.Errorf("%s is not a positive duration (allowed: e.g. 30s, 5m)", quote(v))
				}
				c.Hooks.Timeout = d
				return nil
			},
			get: func(c *Config) string { return c.Hooks.Timeout.String() }},
		listKey("hooks.webhooks", func(c *Config) *[]string { return &c.Hooks.Webhooks }, checkWebhook),
		&key{name: "hooks.webhook_secret", env: []string{"STORAGE_WEBHOOK_SECRET"}, secret: true,
			set: func(c *Config, v string) error { c.Hooks.WebhookSecret = v; return nil },
			get: func(c *Config) string { return c.Hooks.WebhookSecret }})
	for _, k := range keys[len(keys)-len(hookKeys)-3:] {
		byKey[k.name] = k
	}
}

// checkWebhook accepts an http(s) URL.
func checkWebhook(v string) (string, error) {
	v = strings.TrimSpace(v)
	if !(strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://")) || strings.ContainsFunc(v, isSpaceOrControl) {
		return "", fmt.Errorf("%s is not an http(s) URL", quote(v))
	}
	return v, nil
}

var byKey = func() map[string]*key {
	m := make(map[string]*key, len(keys))
	for _, k := range keys {
		m[k.name] = k
	}
	return m
}()

// sections are the nested mappings below "storage".
var sections = map[string]bool{"api": true, "backup": true, "s3": true, "hooks": true}

func allKeys() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

// sectionKeys returns the keys directly inside a section ("" = storage
// itself), with sections shown as "api.*" etc.
func sectionKeys(prefix string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k.name, prefix)
		if !ok {
			continue
		}
		if sec, _, nested := strings.Cut(rest, "."); nested {
			if !seen[sec] {
				seen[sec] = true
				out = append(out, sec+".*")
			}
			continue
		}
		out = append(out, rest)
	}
	return out
}

// ---- value parsers; their errors omit the key, the caller adds it ----

const maxDays = 36500 // 100 years; keeps day counts far from Duration overflow

func setDays(dst *int, v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil && !isRangeErr(err) {
		return fmt.Errorf("%s is not a whole number of days (allowed: 0 or more)", quote(v))
	}
	if err == nil && n < 0 {
		return fmt.Errorf("%s is negative (allowed: 0 or more days)", quote(v))
	}
	if err != nil || n > maxDays {
		return fmt.Errorf("%s is too large (allowed: 0 to %d days)", quote(v), maxDays)
	}
	*dst = n
	return nil
}

func setBool(dst *bool, v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return fmt.Errorf("%s is not a boolean (allowed: true or false)", quote(v))
	}
	return nil
}

// envBool normalises an environment boolean (1/0/true/false/yes/no) to
// "true"/"false".
func envBool(v string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes":
		return "true", nil
	case "0", "false", "no":
		return "false", nil
	}
	return "", fmt.Errorf("%s is not a boolean (allowed: 1, 0, true, false, yes, no)", quote(v))
}

func setQuota(dst *int64, v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return fmt.Errorf("%w; 0 means unlimited", err)
	}
	*dst = n
	return nil
}

func showQuota(n int64) string {
	if n == 0 {
		return "0 (unlimited)"
	}
	return formatExactSize(n)
}

// setCount accepts a whole number >= 0 (digits, optionally grouped with
// '_'); 0 means unlimited.
func setCount(dst *int64, v string) error {
	const allowed = "allowed: a whole number such as 10000000 or 10_000_000; 0 means unlimited"
	t := strings.ReplaceAll(strings.TrimSpace(v), "_", "")
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(t, "+") {
		return fmt.Errorf("%s is not a count (%s)", quote(v), allowed)
	}
	*dst = n
	return nil
}

func showCount(n int64) string {
	if n == 0 {
		return "0 (unlimited)"
	}
	return strconv.FormatInt(n, 10)
}

// checkHostItem accepts a host name or IP, optionally with :port, or "*".
func checkHostItem(v string) (string, error) {
	const allowed = "allowed: a host name or IP address, optionally with :port, or \"*\" for any"
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" || strings.ContainsFunc(v, isSpaceOrControl) || strings.ContainsAny(v, "/@?#") {
		return "", fmt.Errorf("%s is not a host (%s)", quote(v), allowed)
	}
	return v, nil
}

// checkAbsDir accepts an absolute local directory path ("~" expanded); on
// Windows that is one with a drive (D:\x) or a UNC path (\\server\share\x).
func checkAbsDir(v string) (string, error) {
	var p string
	if err := setLocalPath(&p, v); err != nil {
		return "", err
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s is not an absolute path (allowed: an absolute directory path)", quote(v))
	}
	return filepath.Clean(p), nil
}

// checkDestination accepts an absolute local path or s3://bucket[/prefix].
func checkDestination(v string) (string, error) {
	var p string
	if err := setLocation(&p, v); err != nil {
		return "", err
	}
	if strings.Contains(p, "://") {
		return p, nil
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s is not an absolute path (allowed: an absolute path or s3://bucket/prefix)", quote(v))
	}
	return filepath.Clean(p), nil
}

func setPackSize(dst *int64, v string) error {
	const allowed = "allowed: 1MiB to 256MiB"
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	if n < MiB || n > 256*MiB {
		hint := ""
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			hint = "; a bare number means GB, so write e.g. 16MiB"
		}
		return fmt.Errorf("%s (%s) is out of range (%s%s)", quote(v), FormatSize(n), allowed, hint)
	}
	*dst = n
	return nil
}

func setCompressionLevel(dst *int, v string) error {
	const allowed = "allowed: 1 to 19; 1-2 fastest, 3-5 default, 6-9 better, 10-19 best compression"
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%s is not a whole number (%s)", quote(v), allowed)
	}
	if n < 1 || n > 19 {
		return fmt.Errorf("%s is out of range (%s)", quote(v), allowed)
	}
	*dst = n
	return nil
}

func setThreshold(dst *float64, v string) error {
	const allowed = "allowed: a fraction strictly between 0 and 1, e.g. 0.10"
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%s is not a number (%s)", quote(v), allowed)
	}
	if f <= 0 || f >= 1 {
		return fmt.Errorf("%s is out of range (%s)", quote(v), allowed)
	}
	*dst = f
	return nil
}

// extraSchemes are the URL schemes of backends registered with
// store.RegisterBackend (AllowScheme).
var extraSchemes sync.Map

// AllowScheme makes locations of scheme ("scheme://...") valid for
// base_path and backup destinations: store.RegisterBackend calls it.
func AllowScheme(scheme string) { extraSchemes.Store(scheme, true) }

// setLocation accepts a local path, s3://bucket[/prefix] or
// azblob://container[/prefix].
func setLocation(dst *string, v string) error {
	const allowed = "allowed: a local path, s3://bucket/prefix or azblob://container/prefix"
	if v == "" {
		return fmt.Errorf("is empty (%s)", allowed)
	}
	if scheme, rest, ok := strings.Cut(v, "://"); ok {
		if _, extra := extraSchemes.Load(scheme); scheme != "s3" && scheme != "azblob" && !extra {
			return fmt.Errorf("%s has unsupported scheme %s (%s)", quote(v), quote(scheme+"://"), allowed)
		}
		bucket, _, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return fmt.Errorf("%s has no bucket name (%s)", quote(v), allowed)
		}
		if strings.ContainsFunc(rest, isSpaceOrControl) {
			return fmt.Errorf("%s contains spaces or control characters (%s)", quote(v), allowed)
		}
		*dst = v
		return nil
	}
	return setLocalPath(dst, v)
}

// ExpandHome returns p with a leading "~" that stands for the user's home
// directory replaced by it (os.UserHomeDir: $HOME, on Windows
// %USERPROFILE%): "~" alone, "~/..." and, on Windows, "~\...". Every
// other path, "~user/..." and "~file" among them, comes back as it is.
// It is the one expansion of every local path silo takes: configuration,
// environment and command-line flags.
func ExpandHome(p string) (string, error) {
	rest, ok := cutHome(p, filepath.Separator)
	if !ok {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%s: cannot expand ~: %w", quote(p), err)
	}
	return filepath.Join(home, rest), nil
}

// cutHome reports whether p starts with a "~" standing for the home
// directory, alone or followed by '/' or by sep (the platform's
// separator), and returns what follows it.
func cutHome(p string, sep byte) (rest string, ok bool) {
	if p == "~" {
		return "", true
	}
	if len(p) >= 2 && p[0] == '~' && (p[1] == '/' || p[1] == sep) {
		return p[2:], true
	}
	return "", false
}

// setLocalPath accepts a non-empty local path, expanding a leading "~"
// (ExpandHome).
func setLocalPath(dst *string, v string) error {
	const allowed = "allowed: a local directory path"
	if v == "" {
		return fmt.Errorf("is empty (%s)", allowed)
	}
	if strings.ContainsRune(v, 0) {
		return fmt.Errorf("%s contains a NUL byte (%s)", quote(v), allowed)
	}
	if strings.Contains(v, "://") {
		return fmt.Errorf("%s is a URL (%s)", quote(v), allowed)
	}
	p, err := ExpandHome(v)
	if err != nil {
		return fmt.Errorf("%v (%s)", err, allowed)
	}
	*dst = p
	return nil
}

func setAddr(dst *string, v string) error {
	const allowed = "allowed: host:port with port 0-65535, e.g. 127.0.0.1:8080 or :8080"
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s is not host:port (%s)", quote(v), allowed)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || strings.ContainsFunc(host, isSpaceOrControl) {
		return fmt.Errorf("%s is not host:port (%s)", quote(v), allowed)
	}
	*dst = v
	return nil
}

func setEndpoint(dst *string, v string) error {
	const allowed = "allowed: empty (AWS default) or http(s)://host[:port], e.g. http://127.0.0.1:9000; http means no TLS"
	if v == "" {
		*dst = ""
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s is not an endpoint URL (%s)", quote(v), allowed)
	}
	*dst = v
	return nil
}

// setToken accepts any value without whitespace or control characters.
func setToken(dst *string, v, allowed string) error {
	if strings.ContainsFunc(v, isSpaceOrControl) {
		return fmt.Errorf("%s contains spaces or control characters (allowed: %s)", quote(v), allowed)
	}
	*dst = v
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func setCron(dst *string, v string) error {
	if err := checkCron(v); err != nil {
		return fmt.Errorf("%s is not a cron expression: %v (allowed: 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\")", quote(v), err)
	}
	*dst = strings.Join(strings.Fields(v), " ")
	return nil
}

func setFrequency(dst *string, v string) error {
	const allowed = "allowed: hourly, daily, weekly, monthly, or a 5-field cron expression such as \"0 3 * * *\""
	switch f := strings.ToLower(strings.TrimSpace(v)); f {
	case "hourly", "daily", "weekly", "monthly":
		*dst = f
		return nil
	}
	if len(strings.Fields(v)) <= 1 {
		return fmt.Errorf("%s is not a frequency (%s)", quote(v), allowed)
	}
	if err := checkCron(v); err != nil {
		return fmt.Errorf("%s is not a frequency: %v (%s)", quote(v), err, allowed)
	}
	*dst = strings.Join(strings.Fields(v), " ")
	return nil
}

// cronFields describes the five standard cron fields.
var cronFields = []struct {
	name     string
	min, max int
	names    []string // names for min, min+1, ...
}{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day-of-month", 1, 31, nil},
	{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{"day-of-week", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

var cronPart = regexp.MustCompile(`^(\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/([0-9]+))?$`)

// checkCron is a light syntax check of a 5-field cron expression: each field
// is a comma-separated list of *, ?, N, N-M, optionally followed by /STEP,
// with numbers (or month/weekday names) in the field's range. The scheduler
// validates fully with a cron library.
func checkCron(v string) error {
	fields := strings.Fields(v)
	if len(fields) != 5 {
		return fmt.Errorf("need 5 fields, got %d", len(fields))
	}
	for i, f := range fields {
		spec := cronFields[i]
		for _, part := range strings.Split(f, ",") {
			m := cronPart.FindStringSubmatch(part)
			if m == nil {
				return fmt.Errorf("%s field %s is malformed", spec.name, quote(f))
			}
			if m[2] != "" {
				if step, err := strconv.Atoi(m[2]); err != nil || step < 1 || step > spec.max+1 {
					return fmt.Errorf("%s field %s has a bad step", spec.name, quote(f))
				}
			}
			if m[1] == "*" || m[1] == "?" {
				continue
			}
			lo, hi, isRange := strings.Cut(m[1], "-")
			a, ok1 := cronValue(lo, i)
			b, ok2 := a, true
			if isRange {
				b, ok2 = cronValue(hi, i)
			}
			if !ok1 || !ok2 {
				return fmt.Errorf("%s field %s is out of range %d-%d", spec.name, quote(f), spec.min, spec.max)
			}
			if b < a {
				return fmt.Errorf("%s field %s has a backwards range", spec.name, quote(f))
			}
		}
	}
	return nil
}

func cronValue(s string, field int) (int, bool) {
	spec := cronFields[field]
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= spec.min && n <= spec.max
	}
	for j, name := range spec.names {
		if strings.EqualFold(s, name) {
			return spec.min + j, true
		}
	}
	return 0, false
}

func defaultCacheDir(env func(string) string) string {
	if x := env("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "silo")
	}
	if h := env("HOME"); h != "" {
		return filepath.Join(h, ".cache", "silo")
	}
	if x := env("LOCALAPPDATA"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "silo")
	}
	return ""
}

// ---- environment ----

func (c *Config) applyEnv(env func(string) string, errs *errList) {
	for _, k := range keys {
		for _, name := range k.env {
			v := env(name)
			if v == "" {
				continue
			}
			src := "env " + name
			if k.isBool {
				b, err := envBool(v)
				if err != nil {
					errs.add(fmt.Errorf("%s: storage.%s: %w", src, k.name, err))
					break
				}
				v = b
			}
			if err := k.set(c, v); err != nil {
				errs.add(fmt.Errorf("%s: storage.%s: %w", src, k.name, err))
			} else {
				c.setSource(k.name, src)
			}
			break
		}
	}
}

// ---- the file ----

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file is larger than %s", FormatSize(maxFileSize))
	}
	return data, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func syntaxError(err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: YAML syntax error: %s", File, m[1], m[2])
	}
	// yaml leaves the line out when the problem is on the first line.
	return fmt.Errorf("%s:1: YAML syntax error: %s", File, strings.TrimPrefix(msg, "yaml: "))
}

// fileErr formats a problem at a line of the file.
func fileErr(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: "+format, append([]any{File, line}, args...)...)
}

func (c *Config) applyFile(data []byte, errs *errList) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err != io.EOF {
			errs.add(syntaxError(err))
		}
		return // io.EOF: empty file or only comments
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		errs.add(syntaxError(err))
		return
	default:
		errs.add(fileErr(extra.Line, "a second YAML document (after ---) is not allowed; put everything under one \"storage:\""))
		return
	}

	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return
		}
		root = root.Content[0]
	}
	root, ok := mappingOrNull(root, errs, "the top level must be a mapping with the key \"storage:\"")
	if !ok {
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, vn := deref(root.Content[i]), root.Content[i+1]
		name, ok := keyName(kn, "top level", errs)
		if !ok {
			continue
		}
		if first, dup := seen[name]; dup {
			errs.add(fileErr(kn.Line, "%s is set twice (first at line %d)", name, first))
			continue
		}
		seen[name] = kn.Line
		if name != "storage" {
			hint := "the only top-level key is \"storage:\""
			if byKey[name] != nil || sections[name] {
				hint = fmt.Sprintf("settings go under \"storage:\"; did you mean storage.%s?", name)
			} else if s := suggest(name, []string{"storage"}); s != "" {
				hint = fmt.Sprintf("did you mean %s?; %s", s, hint)
			}
			errs.add(fileErr(kn.Line, "unknown top-level key %s (%s)", quote(name), hint))
			continue
		}
		c.applySection(vn, "", errs)
	}
}

// applySection applies the mapping n found at storage.<prefix>.
func (c *Config) applySection(n *yaml.Node, prefix string, errs *errList) {
	n = deref(n)
	if isNull(n) {
		return
	}
	path := "storage"
	if prefix != "" {
		path += "." + strings.TrimSuffix(prefix, ".")
	}
	if n.Kind != yaml.MappingNode {
		errs.add(fileErr(n.Line, "%s must be a mapping, not %s (allowed keys: %s)", path, kindName(n),
			strings.Join(sectionKeys(prefix), ", ")))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), deref(n.Content[i+1])
		name, ok := keyName(kn, path, errs)
		if !ok {
			continue
		}
		full := prefix + name
		if first, dup := seen[name]; dup {
			errs.add(fileErr(kn.Line, "storage.%s is set twice (first at line %d)", full, first))
			continue
		}
		seen[name] = kn.Line
		if prefix == "" && name == "filters" {
			c.applyFilters(vn, errs)
			continue
		}
		if prefix == "" && sections[name] {
			c.applySection(vn, name+".", errs)
			continue
		}
		k := byKey[full]
		if k == nil {
			errs.add(fileErr(kn.Line, "%s", unknownKey(full, prefix, sectionKeys(prefix))))
			continue
		}
		if isNull(vn) {
			continue // "key:" with no value keeps the default
		}
		if k.list != nil && vn.Kind == yaml.SequenceNode {
			if c.applyList(k, vn, errs) {
				c.setSource(full, fmt.Sprintf("%s:%d", File, kn.Line))
			}
			continue
		}
		if k.list != nil && vn.Kind == yaml.ScalarNode {
			// a single value is a list of one
			x, err := k.item(vn.Value)
			if err != nil {
				errs.add(fileErr(kn.Line, "storage.%s: %v", full, err))
				continue
			}
			*k.list(c) = []string{x}
			c.setSource(full, fmt.Sprintf("%s:%d", File, kn.Line))
			continue
		}
		if vn.Kind != yaml.ScalarNode {
			errs.add(fileErr(kn.Line, "storage.%s: expected a single value, not %s", full, kindName(vn)))
			continue
		}
		if err := k.set(c, vn.Value); err != nil {
			errs.add(fileErr(kn.Line, "storage.%s: %v", full, err))
			continue
		}
		c.setSource(full, fmt.Sprintf("%s:%d", File, kn.Line))
	}
}

// filterName is what a filter may be called (it is recorded in trees).
var filterName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// applyFilters reads storage.filters: a mapping of filter names to
// mappings with pattern (one or a list), clean and smudge.
func (c *Config) applyFilters(n *yaml.Node, errs *errList) {
	n, ok := mappingOrNull(n, errs, "storage.filters must be a mapping of filter names to {pattern, clean, smudge}")
	if !ok {
		return
	}
	c.Filters = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), deref(n.Content[i+1])
		name, ok := keyName(kn, "storage.filters", errs)
		if !ok {
			continue
		}
		if !filterName.MatchString(name) {
			errs.add(fileErr(kn.Line, "storage.filters: filter name %s (allowed: 1 to 64 letters, digits, '.', '_' and '-')", quote(name)))
			continue
		}
		f := Filter{Name: name}
		if vn.Kind != yaml.MappingNode {
			errs.add(fileErr(kn.Line, "storage.filters.%s must be a mapping with pattern, clean and smudge, not %s", name, kindName(vn)))
			continue
		}
		bad := false
		for j := 0; j+1 < len(vn.Content); j += 2 {
			fk, fv := deref(vn.Content[j]), deref(vn.Content[j+1])
			switch fk.Value {
			case "pattern", "patterns":
				switch fv.Kind {
				case yaml.ScalarNode:
					f.Patterns = append(f.Patterns, fv.Value)
				case yaml.SequenceNode:
					for _, it := range fv.Content {
						if it = deref(it); it.Kind == yaml.ScalarNode && it.Value != "" {
							f.Patterns = append(f.Patterns, it.Value)
						}
					}
				}
			case "clean":
				f.Clean = strings.TrimSpace(fv.Value)
			case "smudge":
				f.Smudge = strings.TrimSpace(fv.Value)
			default:
				errs.add(fileErr(fk.Line, "unknown key storage.filters.%s.%s (allowed: pattern, clean, smudge)", name, fk.Value))
				bad = true
			}
		}
		switch {
		case bad:
		case len(f.Patterns) == 0 || f.Clean == "" || f.Smudge == "":
			errs.add(fileErr(kn.Line, "storage.filters.%s needs pattern, clean and smudge (use smudge: cat for a filter with nothing to undo)", name))
		default:
			c.Filters = append(c.Filters, f)
			c.setSource("filters."+name, fmt.Sprintf("%s:%d", File, kn.Line))
		}
	}
}

// applyList sets a list key from a YAML sequence of single values,
// reporting each bad item at its own line. It reports whether it set it.
func (c *Config) applyList(k *key, n *yaml.Node, errs *errList) bool {
	out := []string{}
	ok := true
	for i, it := range n.Content {
		it = deref(it)
		if it.Kind != yaml.ScalarNode || isNull(it) {
			errs.add(fileErr(it.Line, "storage.%s[%d]: expected a single value, not %s", k.name, i, kindName(it)))
			ok = false
			continue
		}
		x, err := k.item(it.Value)
		if err != nil {
			errs.add(fileErr(it.Line, "storage.%s[%d]: %v", k.name, i, err))
			ok = false
			continue
		}
		out = append(out, x)
	}
	if ok {
		*k.list(c) = out
	}
	return ok
}

// keyName returns the text of a mapping key, reporting keys that are not
// plain scalars.
func keyName(kn *yaml.Node, where string, errs *errList) (string, bool) {
	if kn.Kind != yaml.ScalarNode {
		errs.add(fileErr(kn.Line, "%s: keys must be plain names, not %s", where, kindName(kn)))
		return "", false
	}
	if kn.Tag == "!!merge" || kn.Value == "<<" {
		errs.add(fileErr(kn.Line, "%s: merge keys (<<) are not supported; write the settings out", where))
		return "", false
	}
	return kn.Value, true
}

// deref follows aliases to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "the value " + quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// unknownKey words an unknown-key error for key (relative to storage) found
// in the section prefix, suggesting a close known key.
func unknownKey(name, prefix string, allowed []string) string {
	msg := fmt.Sprintf("unknown key %s", quote("storage."+name))
	rel := strings.TrimPrefix(name, prefix)
	if s := suggest(rel, allKeysRelative(prefix)); s != "" {
		return fmt.Sprintf("%s (did you mean storage.%s%s?; allowed: %s)", msg, prefix, s, strings.Join(allowed, ", "))
	}
	if s := suggest(name, allKeys()); s != "" {
		return fmt.Sprintf("%s (did you mean storage.%s?; allowed: %s)", msg, s, strings.Join(allowed, ", "))
	}
	return msg + " (allowed: " + strings.Join(allowed, ", ") + ")"
}

// allKeysRelative returns the keys below prefix with the prefix removed.
func allKeysRelative(prefix string) []string {
	var out []string
	for _, k := range keys {
		if rest, ok := strings.CutPrefix(k.name, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

// suggest returns the candidate closest to name (by edit distance against
// the whole candidate or its last dotted segment), or "" if none is close.
func suggest(name string, candidates []string) string {
	if name == "" || len(name) > 64 {
		return ""
	}
	lname := strings.ToLower(name)
	best, bestD := "", math.MaxInt
	for _, cand := range candidates {
		forms := []string{cand}
		if i := strings.LastIndexByte(cand, '.'); i >= 0 {
			forms = append(forms, cand[i+1:])
		}
		for _, form := range forms {
			// Close means at most 2 edits, or edits touching at most half
			// of the longer name.
			d := editDistance(lname, form)
			if d < bestD && (d <= 2 || 2*d <= max(len(lname), len(form))) {
				best, bestD = cand, d
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// errList collects problems, keeping the first maxErrors.
type errList struct {
	errs    []error
	dropped int
}

func (l *errList) add(err error) {
	if len(l.errs) < maxErrors {
		l.errs = append(l.errs, err)
	} else {
		l.dropped++
	}
}

func (l *errList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	errs := l.errs
	if l.dropped > 0 {
		errs = append(errs[:len(errs):len(errs)], fmt.Errorf("... and %d more problems", l.dropped))
	}
	return errors.Join(errs...)
}

// mappingOrNull dereferences n; ok is false for a null node (nothing to
// read) and for one that is not a mapping (an error saying what must is
// added to errs).
func mappingOrNull(n *yaml.Node, errs *errList, must string) (*yaml.Node, bool) {
	n = deref(n)
	if isNull(n) {
		return n, false
	}
	if n.Kind != yaml.MappingNode {
		errs.add(fileErr(n.Line, "%s, not %s", must, kindName(n)))
		return n, false
	}
	return n, true
}
