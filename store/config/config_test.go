package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeConfig writes content as config/storage.yaml below a fresh directory
// and returns that directory.
func writeConfig(t testing.TB, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "storage.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// envOf returns an env lookup backed by m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func mustLoad(t *testing.T, content string, env map[string]string) *Config {
	t.Helper()
	c, err := Load(writeConfig(t, content), envOf(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func loadErr(t *testing.T, content string, env map[string]string) string {
	t.Helper()
	c, err := Load(writeConfig(t, content), envOf(env))
	if err == nil {
		t.Fatalf("Load succeeded (%+v), want an error", c)
	}
	if c != nil {
		t.Errorf("Load returned a config along with error %v", err)
	}
	return err.Error()
}

func containsAll(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("error %q\n  does not contain %q", got, w)
		}
	}
}

func TestDefaultValues(t *testing.T) {
	c := Default()
	want := &Config{
		BasePath:              "./storage",
		MaxProjectSize:        10_000_000_000,
		ArchiveAfterDays:      90,
		ArchiveExport:         true,
		PurgeDeletedAfterDays: 30,
		CleanupSchedule:       "0 3 * * *",
		CompressionLevel:      3,
		PackSize:              16 << 20,
		RepackThreshold:       0.10,
		MaxEntries:            10_000_000,
		API:                   APIConfig{Addr: "127.0.0.1:8080"},
		Backup:                BackupConfig{Frequency: "daily", RetentionDays: 30, Compression: true, Destination: "./backups"},
		Hooks:                 HooksConfig{Timeout: time.Minute},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Default() =\n %+v\nwant\n %+v", c, want)
	}
}

func TestLoadWithoutFile(t *testing.T) {
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "does-not-exist")} {
		c, err := Load(dir, envOf(nil))
		if err != nil {
			t.Fatalf("Load(%s): %v", dir, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Load without file =\n %+v\nwant defaults\n %+v", c, Default())
		}
		for _, k := range Keys() {
			if s := c.Source(k); s != "default" {
				t.Errorf("Source(%q) = %q, want default", k, s)
			}
		}
	}
}

func TestLoadNilEnv(t *testing.T) {
	c, err := Load(t.TempDir(), nil)
	if err != nil || c.BasePath != "./storage" {
		t.Fatalf("Load(nil env) = %+v, %v", c, err)
	}
}

func TestEmptyishFiles(t *testing.T) {
	for _, content := range []string{
		"",
		"# nothing here\n",
		"---\n",
		"storage:\n",
		"storage: ~\n",
		"storage: {}\n",
		"storage:\n  api:\n  backup: ~\n  s3: {}\n",
		"{}\n",
		"null\n",
	} {
		c := mustLoad(t, content, nil)
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Load(%q) =\n %+v\nwant defaults", content, c)
		}
	}
}

const fullFile = `# silo storage settings
storage:
  base_path: "s3://bucket/silo"
  max_project_size: "10GB"
  total_quota: "1TB"
  archive_after_days: 60
  archive_export: false
  purge_deleted_after_days: 7
  cleanup_enabled: true
  cleanup_schedule: "30 4 * * 1-5"
  compression_level: 9
  pack_size: "32MiB"
  repack_threshold: 0.25
  cache_dir: "/var/cache/silo"
  max_entries: 1_000_000
  api:
    addr: "0.0.0.0:9090"
    token: "s3cr3t"
    allowed_hosts: ["silo.internal", "10.0.0.5:9090"]
    extract_roots: ["/srv/work", "/tmp/x/../ws/"]
    backup_destinations:
      - "/mnt/backup"
      - "s3://backups/other"
  backup:
    enabled: true
    frequency: "weekly"
    retention_days: 14
    compression: false
    destination: "s3://backups/silo"
  s3:
    endpoint: "http://127.0.0.1:9000"
    region: "eu-west-1"
    access_key_id: "AKIAEXAMPLE"
    secret_access_key: "wJalrXUtnFEMI"
    session_token: "tok"
  hooks:
    pre_store: "test -n \"$SILO_PROJECT_NAME\""
    on_store: "echo stored"
    on_restore: "echo restored"
    on_extract: "echo extracted"
    on_archive: "echo archived"
    on_delete: "echo deleted"
    on_backup: "echo backed up"
    on_cleanup: "echo cleaned"
    timeout: "30s"
    webhooks: ["https://hooks.example/silo"]
    webhook_secret: "whsec"
`

func TestLoadFullFile(t *testing.T) {
	c := mustLoad(t, fullFile, nil)
	want := &Config{
		BasePath:              "s3://bucket/silo",
		MaxProjectSize:        10_000_000_000,
		TotalQuota:            1_000_000_000_000,
		ArchiveAfterDays:      60,
		ArchiveExport:         false,
		PurgeDeletedAfterDays: 7,
		CleanupEnabled:        true,
		CleanupSchedule:       "30 4 * * 1-5",
		CompressionLevel:      9,
		PackSize:              32 << 20,
		RepackThreshold:       0.25,
		CacheDir:              "/var/cache/silo",
		MaxEntries:            1_000_000,
		API: APIConfig{Addr: "0.0.0.0:9090", Token: "s3cr3t", AllowedHosts: []string{"silo.internal", "10.0.0.5:9090"},
			ExtractRoots: []string{"/srv/work", "/tmp/ws"}, BackupDestinations: []string{"/mnt/backup", "s3://backups/other"}},
		Backup: BackupConfig{Enabled: true, Frequency: "weekly", RetentionDays: 14, Compression: false, Destination: "s3://backups/silo"},
		S3:     S3Config{Endpoint: "http://127.0.0.1:9000", Region: "eu-west-1", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI", SessionToken: "tok"},
		Hooks: HooksConfig{Commands: map[string]string{"pre_store": `test -n "$SILO_PROJECT_NAME"`, "on_store": "echo stored",
			"on_restore": "echo restored", "on_extract": "echo extracted", "on_archive": "echo archived", "on_delete": "echo deleted",
			"on_backup": "echo backed up", "on_cleanup": "echo cleaned"},
			Timeout: 30 * time.Second, Webhooks: []string{"https://hooks.example/silo"}, WebhookSecret: "whsec"},
	}
	got := *c
	got.sources = nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("Load(full) =\n %+v\nwant\n %+v", &got, want)
	}
	// Every key is set in the file; its source is the line of its key.
	for _, k := range Keys() {
		want := "config/storage.yaml:" + strconv.Itoa(lineOf(t, fullFile, k))
		if got := c.Source(k); got != want {
			t.Errorf("Source(%q) = %q, want %q", k, got, want)
		}
	}
}

// lineOf finds the 1-based line of key k (e.g. "backup.enabled") in a file
// laid out like fullFile.
func lineOf(t *testing.T, file, k string) int {
	t.Helper()
	section, leaf, nested := strings.Cut(k, ".")
	if !nested {
		leaf, section = section, ""
	}
	inSection := section == ""
	for i, l := range strings.Split(file, "\n") {
		trim := strings.TrimSpace(l)
		indent := len(l) - len(strings.TrimLeft(l, " "))
		if indent == 2 && strings.HasSuffix(trim, ":") {
			inSection = strings.TrimSuffix(trim, ":") == section
			continue
		}
		if indent == 2 && section != "" {
			inSection = false
		}
		wantIndent := 2
		if section != "" {
			wantIndent = 4
		}
		if inSection && indent == wantIndent && strings.HasPrefix(trim, leaf+":") {
			return i + 1
		}
	}
	t.Fatalf("key %s not in file", k)
	return 0
}

func TestSourceFileLine(t *testing.T) {
	c := mustLoad(t, "# comment\n\nstorage:\n  archive_after_days: 5\n  backup:\n    enabled: true\n", nil)
	for k, want := range map[string]string{
		"archive_after_days":         "config/storage.yaml:4",
		"storage.archive_after_days": "config/storage.yaml:4",
		"backup.enabled":             "config/storage.yaml:6",
		"base_path":                  "default",
		"backup.frequency":           "default",
		"no_such_key":                "",
	} {
		if got := c.Source(k); got != want {
			t.Errorf("Source(%q) = %q, want %q", k, got, want)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		env    map[string]string
		key    string
		source string
		check  func(c *Config) bool
	}{
		{map[string]string{"STORAGE_BASE_PATH": "/srv/silo"}, "base_path", "env STORAGE_BASE_PATH",
			func(c *Config) bool { return c.BasePath == "/srv/silo" }},
		{map[string]string{"STORAGE_BASE_PATH": "s3://b/p"}, "base_path", "env STORAGE_BASE_PATH",
			func(c *Config) bool { return c.BasePath == "s3://b/p" }},
		{map[string]string{"STORAGE_MAX_PROJECT_SIZE": "512MiB"}, "max_project_size", "env STORAGE_MAX_PROJECT_SIZE",
			func(c *Config) bool { return c.MaxProjectSize == 512<<20 }},
		{map[string]string{"STORAGE_TOTAL_QUOTA": "2"}, "total_quota", "env STORAGE_TOTAL_QUOTA",
			func(c *Config) bool { return c.TotalQuota == 2_000_000_000 }},
		{map[string]string{"STORAGE_BACKUP_ENABLED": "1"}, "backup.enabled", "env STORAGE_BACKUP_ENABLED",
			func(c *Config) bool { return c.Backup.Enabled }},
		{map[string]string{"STORAGE_BACKUP_ENABLED": "yes"}, "backup.enabled", "env STORAGE_BACKUP_ENABLED",
			func(c *Config) bool { return c.Backup.Enabled }},
		{map[string]string{"STORAGE_BACKUP_ENABLED": "TRUE"}, "backup.enabled", "env STORAGE_BACKUP_ENABLED",
			func(c *Config) bool { return c.Backup.Enabled }},
		{map[string]string{"STORAGE_API_TOKEN": "tkn"}, "api.token", "env STORAGE_API_TOKEN",
			func(c *Config) bool { return c.API.Token == "tkn" }},
		{map[string]string{"AWS_ENDPOINT_URL": "https://minio.local:9000"}, "s3.endpoint", "env AWS_ENDPOINT_URL",
			func(c *Config) bool { return c.S3.Endpoint == "https://minio.local:9000" }},
		{map[string]string{"AWS_REGION": "us-east-2"}, "s3.region", "env AWS_REGION",
			func(c *Config) bool { return c.S3.Region == "us-east-2" }},
		{map[string]string{"AWS_DEFAULT_REGION": "ap-south-1"}, "s3.region", "env AWS_DEFAULT_REGION",
			func(c *Config) bool { return c.S3.Region == "ap-south-1" }},
		{map[string]string{"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "ap-south-1"}, "s3.region", "env AWS_REGION",
			func(c *Config) bool { return c.S3.Region == "us-east-2" }},
		{map[string]string{"AWS_ACCESS_KEY_ID": "AKID"}, "s3.access_key_id", "env AWS_ACCESS_KEY_ID",
			func(c *Config) bool { return c.S3.AccessKeyID == "AKID" }},
		{map[string]string{"AWS_SECRET_ACCESS_KEY": "sec"}, "s3.secret_access_key", "env AWS_SECRET_ACCESS_KEY",
			func(c *Config) bool { return c.S3.SecretAccessKey == "sec" }},
		{map[string]string{"AWS_SESSION_TOKEN": "sess"}, "s3.session_token", "env AWS_SESSION_TOKEN",
			func(c *Config) bool { return c.S3.SessionToken == "sess" }},
	}
	// backup.enabled true in the file, switched off by env.
	for _, v := range []string{"0", "no", "false", "FALSE", " No "} {
		tests = append(tests, struct {
			env    map[string]string
			key    string
			source string
			check  func(c *Config) bool
		}{map[string]string{"STORAGE_BACKUP_ENABLED": v}, "backup.enabled", "env STORAGE_BACKUP_ENABLED",
			func(c *Config) bool { return !c.Backup.Enabled }})
	}
	file := "storage:\n  base_path: ./fromfile\n  backup:\n    enabled: true\n"
	for _, tt := range tests {
		c := mustLoad(t, file, tt.env)
		if !tt.check(c) {
			t.Errorf("env %v: value not applied: %+v", tt.env, c)
		}
		if got := c.Source(tt.key); got != tt.source {
			t.Errorf("env %v: Source(%q) = %q, want %q", tt.env, tt.key, got, tt.source)
		}
	}
}

func TestEnvEmptyMeansUnset(t *testing.T) {
	c := mustLoad(t, "storage:\n  base_path: ./fromfile\n", map[string]string{"STORAGE_BASE_PATH": ""})
	if c.BasePath != "./fromfile" || c.Source("base_path") != "config/storage.yaml:2" {
		t.Errorf("empty env var changed base_path: %q from %q", c.BasePath, c.Source("base_path"))
	}
}

func TestPrecedence(t *testing.T) {
	file := "storage:\n  base_path: ./fromfile\n  max_project_size: 1GB\n"
	dir := writeConfig(t, file)

	c, err := Load(dir, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.BasePath != "./fromfile" || c.Source("base_path") != "config/storage.yaml:2" {
		t.Fatalf("file layer: %q from %q", c.BasePath, c.Source("base_path"))
	}

	c, err = Load(dir, envOf(map[string]string{"STORAGE_BASE_PATH": "./fromenv"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.BasePath != "./fromenv" || c.Source("base_path") != "env STORAGE_BASE_PATH" {
		t.Fatalf("env layer: %q from %q", c.BasePath, c.Source("base_path"))
	}
	if c.MaxProjectSize != 1_000_000_000 || c.Source("max_project_size") != "config/storage.yaml:3" {
		t.Fatalf("file value lost: %d from %q", c.MaxProjectSize, c.Source("max_project_size"))
	}

	if err := c.Set("base_path", "./fromflag", "flag --repo"); err != nil {
		t.Fatal(err)
	}
	if c.BasePath != "./fromflag" || c.Source("base_path") != "flag --repo" {
		t.Fatalf("Set layer: %q from %q", c.BasePath, c.Source("base_path"))
	}
	if err := c.Set("storage.backup.destination", "s3://b/x", ""); err != nil {
		t.Fatal(err)
	}
	if c.Backup.Destination != "s3://b/x" || c.Source("backup.destination") != "set" {
		t.Fatalf("Set with prefix: %q from %q", c.Backup.Destination, c.Source("backup.destination"))
	}
}

func TestSetEveryKey(t *testing.T) {
	values := map[string]string{
		"base_path":                "/data/silo",
		"max_project_size":         "5GiB",
		"total_quota":              "0",
		"archive_after_days":       "0",
		"purge_deleted_after_days": "365",
		"archive_export":           "false",
		"cleanup_enabled":          "true",
		"cleanup_schedule":         "*/15 * * * *",
		"compression_level":        "19",
		"pack_size":                "1MiB",
		"repack_threshold":         "0.5",
		"cache_dir":                "/tmp/cache",
		"max_entries":              "5_000",
		"api.addr":                 ":0",
		"api.token":                "t",
		"api.allowed_hosts":        "silo.example, 10.1.2.3",
		"api.extract_roots":        "/srv/a,/srv/b/",
		"api.backup_destinations":  "s3://b/p",
		"backup.enabled":           "True",
		"backup.frequency":         "Hourly",
		"backup.retention_days":    "1",
		"backup.compression":       "false",
		"backup.destination":       "/mnt/backups",
		"s3.endpoint":              "http://localhost:9000",
		"s3.region":                "us-west-2",
		"s3.access_key_id":         "id",
		"s3.secret_access_key":     "secret",
		"s3.session_token":         "session",
		"hooks.pre_store":          "true",
		"hooks.on_store":           "echo $SILO_SNAPSHOT_ID",
		"hooks.on_restore":         "",
		"hooks.on_extract":         "x",
		"hooks.on_archive":         "x",
		"hooks.on_delete":          "x",
		"hooks.on_backup":          "x",
		"hooks.on_cleanup":         "x",
		"hooks.timeout":            "5m",
		"hooks.webhooks":           "http://127.0.0.1:1/h",
		"hooks.webhook_secret":     "s",
	}
	if len(values) != len(Keys()) {
		t.Fatalf("test covers %d keys, there are %d", len(values), len(Keys()))
	}
	c := Default()
	for _, k := range Keys() {
		if err := c.Set(k, values[k], "flag --"+k); err != nil {
			t.Errorf("Set(%q, %q): %v", k, values[k], err)
		}
		if got := c.Source(k); got != "flag --"+k {
			t.Errorf("Source(%q) = %q", k, got)
		}
	}
	want := Config{
		BasePath: "/data/silo", MaxProjectSize: 5 << 30, TotalQuota: 0,
		ArchiveAfterDays: 0, PurgeDeletedAfterDays: 365, CleanupEnabled: true,
		CleanupSchedule: "*/15 * * * *", CompressionLevel: 19, PackSize: 1 << 20,
		RepackThreshold: 0.5, CacheDir: "/tmp/cache", MaxEntries: 5000,
		API: APIConfig{Addr: ":0", Token: "t", AllowedHosts: []string{"silo.example", "10.1.2.3"},
			ExtractRoots: []string{"/srv/a", "/srv/b"}, BackupDestinations: []string{"s3://b/p"}},
		Backup: BackupConfig{Enabled: true, Frequency: "hourly", RetentionDays: 1, Compression: false, Destination: "/mnt/backups"},
		S3:     S3Config{Endpoint: "http://localhost:9000", Region: "us-west-2", AccessKeyID: "id", SecretAccessKey: "secret", SessionToken: "session"},
		Hooks: HooksConfig{Commands: map[string]string{"pre_store": "true", "on_store": "echo $SILO_SNAPSHOT_ID", "on_restore": "",
			"on_extract": "x", "on_archive": "x", "on_delete": "x", "on_backup": "x", "on_cleanup": "x"},
			Timeout: 5 * time.Minute, Webhooks: []string{"http://127.0.0.1:1/h"}, WebhookSecret: "s"},
	}
	got := *c
	got.sources = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after Set:\n %+v\nwant\n %+v", got, want)
	}
}

func TestSetErrors(t *testing.T) {
	c := Default()
	before := *c
	tests := []struct {
		key, value string
		want       []string
	}{
		{"archive_after_days", "-1", []string{"flag --x: storage.archive_after_days:", `"-1"`, "allowed: 0 or more"}},
		{"pack_size", "1GiB", []string{"flag --x: storage.pack_size:", "allowed: 1MiB to 256MiB"}},
		{"max_project_size", "lots", []string{"flag --x: storage.max_project_size:", "allowed:", "GB"}},
		{"backup.enabled", "yes", []string{"storage.backup.enabled", "allowed: true or false"}},
		{"base_path", "", []string{"storage.base_path", "empty", "allowed: a local path, s3://bucket/prefix or azblob://container/prefix"}},
		{"bas_path", "x", []string{"flag --x:", `unknown key "storage.bas_path"`, "did you mean storage.base_path?"}},
		{"api", "x", []string{`unknown key "storage.api"`, "api.addr"}},
	}
	for _, tt := range tests {
		err := c.Set(tt.key, tt.value, "flag --x")
		if err == nil {
			t.Errorf("Set(%q, %q) succeeded", tt.key, tt.value)
			continue
		}
		containsAll(t, err.Error(), tt.want...)
	}
	if !reflect.DeepEqual(*c, before) {
		t.Errorf("failed Sets changed the config: %+v", c)
	}
	if s := c.Source("pack_size"); s != "default" {
		t.Errorf("failed Set recorded source %q", s)
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"days word", "storage:\n  base_path: ./s\n  max_project_size: 1GB\n  archive_after_days: ninety\n",
			[]string{`config/storage.yaml:4: storage.archive_after_days: "ninety" is not a whole number of days (allowed: 0 or more)`}},
		{"days negative", "storage:\n  purge_deleted_after_days: -3\n",
			[]string{"config/storage.yaml:2:", "storage.purge_deleted_after_days", "negative", "allowed: 0 or more"}},
		{"days fraction", "storage:\n  backup:\n    retention_days: 1.5\n",
			[]string{"config/storage.yaml:3:", "storage.backup.retention_days", `"1.5"`, "allowed: 0 or more"}},
		{"days huge", "storage:\n  archive_after_days: 99999999999999999999\n",
			[]string{"config/storage.yaml:2:", "storage.archive_after_days", "too large", "allowed: 0 to 36500 days"}},
		{"size junk", "storage:\n  max_project_size: lots\n",
			[]string{"config/storage.yaml:2:", "storage.max_project_size", `"lots"`, "allowed:", "KiB", "bare number means GB"}},
		{"size negative", "storage:\n  total_quota: -1GB\n",
			[]string{"config/storage.yaml:2:", "storage.total_quota", "negative", "allowed:"}},
		{"size unit", "storage:\n  total_quota: 1XB\n",
			[]string{"config/storage.yaml:2:", "storage.total_quota", `unknown unit "XB"`, "allowed:"}},
		{"pack too small", "storage:\n  pack_size: 512KiB\n",
			[]string{"config/storage.yaml:2:", "storage.pack_size", "allowed: 1MiB to 256MiB"}},
		{"pack too large", "storage:\n  pack_size: 257MiB\n",
			[]string{"config/storage.yaml:2:", "storage.pack_size", "allowed: 1MiB to 256MiB"}},
		{"pack bare number", "storage:\n  pack_size: 16\n",
			[]string{"config/storage.yaml:2:", "storage.pack_size", "allowed: 1MiB to 256MiB", "bare number means GB"}},
		{"level low", "storage:\n  compression_level: 0\n",
			[]string{"config/storage.yaml:2:", "storage.compression_level", `"0"`, "allowed: 1 to 19"}},
		{"level high", "storage:\n  compression_level: 20\n",
			[]string{"config/storage.yaml:2:", "storage.compression_level", "allowed: 1 to 19"}},
		{"level word", "storage:\n  compression_level: max\n",
			[]string{"config/storage.yaml:2:", "storage.compression_level", "allowed: 1 to 19"}},
		{"threshold zero", "storage:\n  repack_threshold: 0\n",
			[]string{"config/storage.yaml:2:", "storage.repack_threshold", "allowed: a fraction strictly between 0 and 1"}},
		{"threshold one", "storage:\n  repack_threshold: 1.0\n",
			[]string{"config/storage.yaml:2:", "storage.repack_threshold", "strictly between 0 and 1"}},
		{"threshold nan", "storage:\n  repack_threshold: .nan\n",
			[]string{"config/storage.yaml:2:", "storage.repack_threshold", "strictly between 0 and 1"}},
		{"threshold percent", "storage:\n  repack_threshold: 10%\n",
			[]string{"config/storage.yaml:2:", "storage.repack_threshold", "strictly between 0 and 1"}},
		{"bool", "storage:\n  cleanup_enabled: yes\n",
			[]string{"config/storage.yaml:2:", "storage.cleanup_enabled", `"yes"`, "allowed: true or false"}},
		{"bool nested", "storage:\n  backup:\n    compression: 1\n",
			[]string{"config/storage.yaml:3:", "storage.backup.compression", "allowed: true or false"}},
		{"cron fields", "storage:\n  cleanup_schedule: \"0 3 * *\"\n",
			[]string{"config/storage.yaml:2:", "storage.cleanup_schedule", "need 5 fields, got 4", "allowed: 5 fields"}},
		{"cron range", "storage:\n  cleanup_schedule: \"0 24 * * *\"\n",
			[]string{"config/storage.yaml:2:", "storage.cleanup_schedule", "hour", "0-23", "allowed: 5 fields"}},
		{"cron junk", "storage:\n  cleanup_schedule: \"a b c d e\"\n",
			[]string{"config/storage.yaml:2:", "storage.cleanup_schedule", "allowed: 5 fields"}},
		{"cron descriptor", "storage:\n  cleanup_schedule: \"@daily\"\n",
			[]string{"config/storage.yaml:2:", "storage.cleanup_schedule", "allowed: 5 fields"}},
		{"frequency", "storage:\n  backup:\n    frequency: yearly\n",
			[]string{"config/storage.yaml:3:", "storage.backup.frequency", `"yearly"`, "allowed: hourly, daily, weekly, monthly, or a 5-field cron"}},
		{"frequency cron", "storage:\n  backup:\n    frequency: \"0 3 * 13 *\"\n",
			[]string{"config/storage.yaml:3:", "storage.backup.frequency", "month", "allowed: hourly, daily, weekly, monthly"}},
		{"base_path scheme", "storage:\n  base_path: gs://bucket/x\n",
			[]string{"config/storage.yaml:2:", "storage.base_path", `unsupported scheme "gs://"`, "allowed: a local path, s3://bucket/prefix or azblob://container/prefix"}},
		{"base_path no bucket", "storage:\n  base_path: s3:///x\n",
			[]string{"config/storage.yaml:2:", "storage.base_path", "no bucket", "s3://bucket/prefix"}},
		{"base_path empty", "storage:\n  base_path: \"\"\n",
			[]string{"config/storage.yaml:2:", "storage.base_path", "empty", "allowed: a local path"}},
		{"destination", "storage:\n  backup:\n    destination: ftp://host/x\n",
			[]string{"config/storage.yaml:3:", "storage.backup.destination", "allowed: a local path, s3://bucket/prefix or azblob://container/prefix"}},
		{"cache_dir url", "storage:\n  cache_dir: s3://b/c\n",
			[]string{"config/storage.yaml:2:", "storage.cache_dir", "allowed: a local directory path"}},
		{"addr", "storage:\n  api:\n    addr: localhost\n",
			[]string{"config/storage.yaml:3:", "storage.api.addr", `"localhost"`, "allowed: host:port"}},
		{"addr port", "storage:\n  api:\n    addr: \"127.0.0.1:70000\"\n",
			[]string{"config/storage.yaml:3:", "storage.api.addr", "allowed: host:port with port 0-65535"}},
		{"endpoint", "storage:\n  s3:\n    endpoint: 127.0.0.1:9000\n",
			[]string{"config/storage.yaml:3:", "storage.s3.endpoint", "allowed: empty (AWS default) or http(s)://host[:port]"}},
		{"region space", "storage:\n  s3:\n    region: \"us east\"\n",
			[]string{"config/storage.yaml:3:", "storage.s3.region", "allowed: a region name"}},
		{"list value", "storage:\n  base_path:\n    - a\n    - b\n",
			[]string{"config/storage.yaml:2:", "storage.base_path", "expected a single value, not a list"}},
		{"map value", "storage:\n  api:\n    token: {a: b}\n",
			[]string{"config/storage.yaml:3:", "storage.api.token", "expected a single value, not a mapping"}},
		{"section scalar", "storage:\n  s3: yes\n",
			[]string{"config/storage.yaml:2:", "storage.s3 must be a mapping", "allowed keys: endpoint, region"}},
		{"storage scalar", "storage: 5\n",
			[]string{"config/storage.yaml:1:", "storage must be a mapping", "allowed keys: base_path"}},
		{"duplicate", "storage:\n  base_path: a\n  base_path: b\n",
			[]string{"config/storage.yaml:3:", "storage.base_path is set twice (first at line 2)"}},
		{"merge key", "base: &b\n  base_path: x\nstorage:\n  <<: *b\n",
			[]string{"config/storage.yaml:4:", "merge keys (<<) are not supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			containsAll(t, loadErr(t, tt.content, nil), tt.want...)
		})
	}
}

func TestSeveralProblemsReportedTogether(t *testing.T) {
	got := loadErr(t, "storage:\n  archive_after_days: x\n  pack_size: 1B\n  nope: 1\n", map[string]string{"STORAGE_TOTAL_QUOTA": "junk"})
	containsAll(t, got,
		"config/storage.yaml:2: storage.archive_after_days",
		"config/storage.yaml:3: storage.pack_size",
		"config/storage.yaml:4: unknown key",
		"env STORAGE_TOTAL_QUOTA: storage.total_quota")
}

func TestManyProblemsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("storage:\n")
	for i := 0; i < 50; i++ {
		b.WriteString("  bogus" + strconv.Itoa(i) + ": 1\n")
	}
	got := loadErr(t, b.String(), nil)
	if n := strings.Count(got, "unknown key"); n != maxErrors {
		t.Errorf("%d unknown-key errors reported, want %d", n, maxErrors)
	}
	containsAll(t, got, "and 30 more problems")
}

func TestBadEnvValues(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"STORAGE_MAX_PROJECT_SIZE": "-5"}, []string{"env STORAGE_MAX_PROJECT_SIZE: storage.max_project_size:", "negative", "allowed:"}},
		{map[string]string{"STORAGE_TOTAL_QUOTA": "1 parsec"}, []string{"env STORAGE_TOTAL_QUOTA: storage.total_quota:", "allowed:"}},
		{map[string]string{"STORAGE_BACKUP_ENABLED": "maybe"}, []string{"env STORAGE_BACKUP_ENABLED: storage.backup.enabled:", "allowed: 1, 0, true, false, yes, no"}},
		{map[string]string{"STORAGE_BASE_PATH": "http://x/y"}, []string{"env STORAGE_BASE_PATH: storage.base_path:", "allowed: a local path, s3://bucket/prefix or azblob://container/prefix"}},
		{map[string]string{"AWS_ENDPOINT_URL": "minio:9000"}, []string{"env AWS_ENDPOINT_URL: storage.s3.endpoint:", "allowed:"}},
	}
	for _, tt := range tests {
		_, err := Load(t.TempDir(), envOf(tt.env))
		if err == nil {
			t.Errorf("env %v accepted", tt.env)
			continue
		}
		containsAll(t, err.Error(), tt.want...)
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		content string
		want    []string
	}{
		{"storage:\n  base_path: ./s\n  bas_path: ./t\n",
			[]string{"config/storage.yaml:3:", `unknown key "storage.bas_path"`, "did you mean storage.base_path?", "allowed: base_path"}},
		{"storage:\n  api:\n    adress: x\n",
			[]string{"config/storage.yaml:3:", `unknown key "storage.api.adress"`, "did you mean storage.api.addr?", "allowed: addr, token"}},
		{"storage:\n  endpoint: http://x\n",
			[]string{"config/storage.yaml:2:", `unknown key "storage.endpoint"`, "did you mean storage.s3.endpoint?"}},
		{"storage:\n  frobnicate: 1\n",
			[]string{"config/storage.yaml:2:", `unknown key "storage.frobnicate"`, "allowed: base_path"}},
		{"storage:\n  s3:\n    bucket: x\n",
			[]string{"config/storage.yaml:3:", `unknown key "storage.s3.bucket"`, "allowed: endpoint"}},
		{"storage:\n  1: x\n",
			[]string{"config/storage.yaml:2:", `unknown key "storage.1"`}},
		{"storage:\n  ? [a, b]\n  : x\n",
			[]string{"config/storage.yaml:2:", "keys must be plain names"}},
	}
	for _, tt := range tests {
		containsAll(t, loadErr(t, tt.content, nil), tt.want...)
	}
}

func TestMissingStorageWrapper(t *testing.T) {
	tests := []struct {
		content string
		want    []string
	}{
		{"base_path: ./s\n", []string{"config/storage.yaml:1:", `unknown top-level key "base_path"`, `settings go under "storage:"`, "did you mean storage.base_path?"}},
		{"# hi\napi:\n  addr: :1\n", []string{"config/storage.yaml:2:", `unknown top-level key "api"`, `under "storage:"`}},
		{"storge:\n  base_path: x\n", []string{"config/storage.yaml:1:", `unknown top-level key "storge"`, "did you mean storage?"}},
		{"other: 1\n", []string{"config/storage.yaml:1:", `unknown top-level key "other"`, `the only top-level key is "storage:"`}},
		{"- storage\n", []string{"config/storage.yaml:1:", `top level must be a mapping with the key "storage:"`, "not a list"}},
		{"just text\n", []string{"config/storage.yaml:1:", `top level must be a mapping`}},
	}
	for _, tt := range tests {
		containsAll(t, loadErr(t, tt.content, nil), tt.want...)
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		content string
		want    []string
	}{
		{"storage:\n  base_path: a\n   bad: b\n", []string{"config/storage.yaml:3: YAML syntax error"}},
		{"storage:\n  base_path: [a\n", []string{"config/storage.yaml:", "YAML syntax error"}},
		{"\tstorage: {}\n", []string{"config/storage.yaml:1: YAML syntax error"}},
		{"storage:\n  base_path: \"unterminated\n", []string{"config/storage.yaml:", "YAML syntax error"}},
		{"storage:\n  base_path: *nope\n", []string{"config/storage.yaml:", "nope"}},
		{"storage: {}\n---\nstorage: {}\n", []string{"config/storage.yaml:2:", "second YAML document"}},
	}
	for _, tt := range tests {
		got := loadErr(t, tt.content, nil)
		containsAll(t, got, tt.want...)
		if strings.Contains(got, "yaml: ") {
			t.Errorf("raw yaml prefix left in %q", got)
		}
	}
}

func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "config", "storage.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "config/storage.yaml") {
		t.Errorf("Load with a directory as the file: %v", err)
	}

	big := writeConfig(t, "storage:\n"+strings.Repeat("# padding\n", maxFileSize/10+1))
	if _, err := Load(big, envOf(nil)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load of an oversized file: %v", err)
	}
}

func TestNullKeepsDefault(t *testing.T) {
	c := mustLoad(t, "storage:\n  base_path:\n  compression_level: ~\n  api:\n    addr: null\n", nil)
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("null values changed the config: %+v", c)
	}
	if s := c.Source("base_path"); s != "default" {
		t.Errorf("Source(base_path) = %q", s)
	}
}

func TestYAMLValueForms(t *testing.T) {
	c := mustLoad(t, `storage:
  base_path: 'quoted path'
  archive_after_days: "12"
  max_project_size: 10
  total_quota: 1.5 TB
  pack_size: 8mib
  cleanup_enabled: TRUE
  cleanup_schedule: "0   3 * *   mon-fri"
  api: &api
    addr: "[::1]:8080"
  backup:
    frequency: "Weekly"
    destination: &dest ./bk
    compression: False
  cache_dir: *dest
`, nil)
	if c.BasePath != "quoted path" || c.ArchiveAfterDays != 12 || c.MaxProjectSize != 10_000_000_000 ||
		c.TotalQuota != 1_500_000_000_000 || c.PackSize != 8<<20 || !c.CleanupEnabled ||
		c.CleanupSchedule != "0 3 * * mon-fri" || c.API.Addr != "[::1]:8080" ||
		c.Backup.Frequency != "weekly" || c.Backup.Destination != "./bk" || c.Backup.Compression ||
		c.CacheDir != "./bk" {
		t.Errorf("unexpected config: %+v", c)
	}
	if s := c.Source("cache_dir"); s != "config/storage.yaml:15" {
		t.Errorf("Source(cache_dir) = %q", s)
	}
}

func TestCacheDirDefault(t *testing.T) {
	c := mustLoad(t, "", map[string]string{"HOME": "/home/u"})
	if c.CacheDir != filepath.Join("/home/u", ".cache", "silo") || c.Source("cache_dir") != "default" {
		t.Errorf("cache dir = %q from %q", c.CacheDir, c.Source("cache_dir"))
	}
	c = mustLoad(t, "", map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"})
	if c.CacheDir != filepath.Join("/xdg", "silo") {
		t.Errorf("cache dir with XDG_CACHE_HOME = %q", c.CacheDir)
	}
	c = mustLoad(t, "", map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "relative"})
	if c.CacheDir != filepath.Join("/home/u", ".cache", "silo") {
		t.Errorf("relative XDG_CACHE_HOME used: %q", c.CacheDir)
	}
	// An explicit empty value means the default, too.
	c = mustLoad(t, "storage:\n  cache_dir: \"\"\n", map[string]string{"HOME": "/home/u"})
	if c.CacheDir != filepath.Join("/home/u", ".cache", "silo") {
		t.Errorf("cache_dir \"\" = %q", c.CacheDir)
	}
	if err := c.Set("cache_dir", "/elsewhere", "flag"); err != nil || c.CacheDir != "/elsewhere" {
		t.Fatalf("Set cache_dir: %v, %q", err, c.CacheDir)
	}
	if err := c.Set("cache_dir", "", "flag"); err != nil || c.CacheDir != filepath.Join("/home/u", ".cache", "silo") {
		t.Errorf("Set cache_dir \"\": %v, %q", err, c.CacheDir)
	}
}

func TestTildeExpansion(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory")
	}
	c := Default()
	if err := c.Set("base_path", "~/silo", "flag"); err != nil {
		t.Fatal(err)
	}
	if c.BasePath != filepath.Join(home, "silo") {
		t.Errorf("~/silo expanded to %q", c.BasePath)
	}
	if err := c.Set("base_path", "~other/silo", "flag"); err != nil || c.BasePath != "~other/silo" {
		t.Errorf("~other/silo: %v, %q", err, c.BasePath)
	}
}

func TestEntries(t *testing.T) {
	c := mustLoad(t, "storage:\n  total_quota: 1TB\n  pack_size: 32MiB\n  api:\n    token: hunter2\n",
		map[string]string{"AWS_SECRET_ACCESS_KEY": "xyz", "AWS_REGION": "eu-central-1"})
	entries := c.Entries()
	keys := Keys()
	if len(entries) != len(keys) {
		t.Fatalf("%d entries for %d keys", len(entries), len(keys))
	}
	got := map[string]Entry{}
	for i, e := range entries {
		if e.Key != keys[i] {
			t.Errorf("entry %d is %q, want %q", i, e.Key, keys[i])
		}
		got[e.Key] = e
	}
	for k, want := range map[string]Entry{
		"base_path":            {"base_path", "./storage", "default"},
		"max_project_size":     {"max_project_size", "10 GB", "default"},
		"total_quota":          {"total_quota", "1 TB", "config/storage.yaml:2"},
		"pack_size":            {"pack_size", "32 MiB", "config/storage.yaml:3"},
		"repack_threshold":     {"repack_threshold", "0.1", "default"},
		"cleanup_enabled":      {"cleanup_enabled", "false", "default"},
		"api.token":            {"api.token", "***", "config/storage.yaml:5"},
		"s3.secret_access_key": {"s3.secret_access_key", "***", "env AWS_SECRET_ACCESS_KEY"},
		"s3.session_token":     {"s3.session_token", "", "default"},
		"s3.region":            {"s3.region", "eu-central-1", "env AWS_REGION"},
		"backup.frequency":     {"backup.frequency", "daily", "default"},
	} {
		if got[k] != want {
			t.Errorf("entry %s = %+v, want %+v", k, got[k], want)
		}
	}
	// The order is stable and begins with the top-level keys.
	if keys[0] != "base_path" || keys[len(keys)-1] != "hooks.webhook_secret" {
		t.Errorf("unexpected key order %v", keys)
	}
	data, err := json.Marshal(entries[:1])
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `[{"key":"base_path","value":"./storage","source":"default"}]` {
		t.Errorf("JSON = %s", data)
	}
	for _, e := range entries {
		if strings.Contains(e.Value, "hunter2") || strings.Contains(e.Value, "xyz") {
			t.Errorf("secret leaked in %+v", e)
		}
	}
}

func TestZeroConfigIsUsable(t *testing.T) {
	var c Config
	if s := c.Source("base_path"); s != "default" {
		t.Errorf("Source on zero Config = %q", s)
	}
	if err := c.Set("base_path", "/x", "flag"); err != nil || c.Source("base_path") != "flag" {
		t.Errorf("Set on zero Config: %v, %q", err, c.Source("base_path"))
	}
	if len(c.Entries()) != len(Keys()) {
		t.Error("Entries on zero Config")
	}
}

func TestCheckCron(t *testing.T) {
	good := []string{"0 3 * * *", "*/5 * * * *", "0 0 1,15 * *", "0 9-17 * * mon-fri", "0 0 * jan,jul sun",
		"59 23 31 12 7", "0 0 ? * *", "0-30/10 * * * *", "  0  3  *  *  *  "}
	bad := []string{"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
		"* * * * 8", "*/0 * * * *", "5-1 * * * *", "x * * * *", "* * * foo *", "1,,2 * * * *", "@hourly", "*/ * * * *"}
	for _, s := range good {
		if err := checkCron(s); err != nil {
			t.Errorf("checkCron(%q): %v", s, err)
		}
	}
	for _, s := range bad {
		if err := checkCron(s); err == nil {
			t.Errorf("checkCron(%q) accepted", s)
		}
	}
}

func TestSuggest(t *testing.T) {
	for name, want := range map[string]string{
		"bas_path":           "base_path",
		"BASE_PATH":          "base_path",
		"compresion_level":   "compression_level",
		"secret_key":         "s3.secret_access_key",
		"token":              "api.token",
		"frobnicate":         "",
		"xyz":                "",
		"purge_deleted_days": "purge_deleted_after_days",
	} {
		if got := suggest(name, allKeys()); got != want {
			t.Errorf("suggest(%q) = %q, want %q", name, got, want)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(fullFile))
	f.Add([]byte(""))
	f.Add([]byte("storage:\n  base_path: s3://b/p\n  pack_size: 1MiB\n"))
	f.Add([]byte("storage: &a\n  api: *a\n  s3: *a\n"))
	f.Add([]byte("storage:\n  backup: {frequency: \"*/5 * * * *\", enabled: true}\n"))
	f.Add([]byte("storage: [1, {a: b}]\n---\nx\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := writeConfig(t, string(data))
		c, err := Load(dir, envOf(nil))
		if (c == nil) == (err == nil) {
			t.Fatalf("Load returned config %v and error %v", c, err)
		}
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, "config/storage.yaml") {
				t.Fatalf("error does not name the file: %q", msg)
			}
			return
		}
		// Whatever loaded must be valid and survive a round trip through Set.
		for _, e := range c.Entries() {
			if e.Source == "" {
				t.Fatalf("entry %+v has no source", e)
			}
		}
		if c.CompressionLevel < 1 || c.CompressionLevel > 19 || c.PackSize < 1<<20 || c.PackSize > 256<<20 ||
			!(c.RepackThreshold > 0 && c.RepackThreshold < 1) || c.MaxProjectSize < 0 || c.TotalQuota < 0 ||
			c.ArchiveAfterDays < 0 || c.PurgeDeletedAfterDays < 0 || c.Backup.RetentionDays < 0 || c.BasePath == "" || c.MaxEntries < 0 {
			t.Fatalf("invalid config loaded: %+v", c)
		}
	})
}

// The API's list keys take a YAML list (or one value), check every item
// with its own line, and show comma-separated; max_entries takes a count.
func TestListKeysAndMaxEntries(t *testing.T) {
	c := mustLoad(t, "storage:\n  max_entries: 0\n  api:\n    extract_roots:\n      - /srv/work\n      - /srv/other/\n    allowed_hosts: Silo.Example\n    backup_destinations: []\n", nil)
	if !reflect.DeepEqual(c.API.ExtractRoots, []string{"/srv/work", "/srv/other"}) || c.Source("api.extract_roots") != "config/storage.yaml:4" {
		t.Errorf("extract_roots = %q from %s", c.API.ExtractRoots, c.Source("api.extract_roots"))
	}
	if !reflect.DeepEqual(c.API.AllowedHosts, []string{"silo.example"}) || len(c.API.BackupDestinations) != 0 || c.MaxEntries != 0 {
		t.Errorf("allowed_hosts %q, backup_destinations %q, max_entries %d", c.API.AllowedHosts, c.API.BackupDestinations, c.MaxEntries)
	}
	show := map[string]string{}
	for _, e := range c.Entries() {
		show[e.Key] = e.Value
	}
	if show["api.extract_roots"] != "/srv/work,/srv/other" || show["max_entries"] != "0 (unlimited)" {
		t.Errorf("config show: %q, %q", show["api.extract_roots"], show["max_entries"])
	}
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"storage:\n  api:\n    extract_roots:\n      - /ok\n      - relative/dir\n",
			[]string{"config/storage.yaml:5:", "storage.api.extract_roots[1]", `"relative/dir"`, "absolute"}},
		{"storage:\n  api:\n    extract_roots: [/ok, {a: b}]\n",
			[]string{"config/storage.yaml:3:", "storage.api.extract_roots[1]", "expected a single value"}},
		{"storage:\n  api:\n    backup_destinations: [\"./backups\"]\n",
			[]string{"config/storage.yaml:3:", "storage.api.backup_destinations[0]", "absolute path or s3://"}},
		{"storage:\n  api:\n    backup_destinations: [\"ftp://x/y\"]\n",
			[]string{"config/storage.yaml:3:", "unsupported scheme"}},
		{"storage:\n  api:\n    allowed_hosts: [\"http://evil/\"]\n",
			[]string{"config/storage.yaml:3:", "storage.api.allowed_hosts[0]", "not a host"}},
		{"storage:\n  api:\n    extract_roots: {a: b}\n",
			[]string{"config/storage.yaml:3:", "storage.api.extract_roots", "expected a single value, not a mapping"}},
		{"storage:\n  max_entries: -5\n", []string{"config/storage.yaml:2:", "storage.max_entries", "not a count"}},
		{"storage:\n  max_entries: lots\n", []string{"config/storage.yaml:2:", "storage.max_entries", "0 means unlimited"}},
	} {
		containsAll(t, loadErr(t, tc.file, nil), tc.want...)
	}
	env := mustLoad(t, "", map[string]string{"STORAGE_MAX_ENTRIES": "1_000"})
	if env.MaxEntries != 1000 || env.Source("max_entries") != "env STORAGE_MAX_ENTRIES" {
		t.Errorf("STORAGE_MAX_ENTRIES: %d from %s", env.MaxEntries, env.Source("max_entries"))
	}
	if err := env.Set("api.extract_roots", "/a, rel", "flag --x"); err == nil || !strings.Contains(err.Error(), "item 2") {
		t.Errorf("Set with a relative item: %v", err)
	}
}

// The guide's three backup frequencies (daily, weekly, monthly) and hourly
// are accepted in any case; anything else is refused.
func TestBackupFrequencies(t *testing.T) {
	for _, f := range []string{"hourly", "daily", "weekly", "monthly", "Monthly"} {
		c := Default()
		if err := c.Set("backup.frequency", f, "test"); err != nil || c.Backup.Frequency != strings.ToLower(f) {
			t.Errorf("frequency %q: %q %v", f, c.Backup.Frequency, err)
		}
	}
	if err := Default().Set("backup.frequency", "fortnightly", "test"); err == nil {
		t.Error("frequency fortnightly accepted")
	}
}
