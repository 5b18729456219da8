package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"pgregory.net/rapid"

	"github.com/routeops/routeops/redact"
	"github.com/routeops/routeops/redact/redacttest"
	"github.com/routeops/routeops/router"
)

// setup describes the layers of one Load.
type setup struct {
	file string            // file content; "" for no file
	ext  string            // file extension, ".yaml" when empty
	env  map[string]string // the whole environment
	args []string          // command line; nil for no flag set
}

func newFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("routeops", pflag.ContinueOnError)
	fs.String("dsn", "", "")
	fs.String("operator", "", "")
	fs.String("on-item-fault", "quarantine", "")
	fs.Bool("read-only", false, "")
	fs.Duration("stall-after", time.Minute, "")
	fs.String("metrics-addr", "", "")
	return fs
}

func (s setup) options(t testing.TB) LoadOptions {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{"HOME": dir, "XDG_CONFIG_HOME": filepath.Join(dir, "xdg")}
	for k, v := range s.env {
		env[k] = v
	}
	opts := LoadOptions{
		Dir: dir,
		Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Environ: func() []string {
			var out []string
			for k, v := range env {
				out = append(out, k+"="+v)
			}
			return out
		},
	}
	if s.file != "" {
		ext := s.ext
		if ext == "" {
			ext = ".yaml"
		}
		opts.File = filepath.Join(dir, "routeops"+ext)
		if err := os.WriteFile(opts.File, []byte(s.file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if s.args != nil {
		fs := newFlags()
		if err := fs.Parse(s.args); err != nil {
			t.Fatal(err)
		}
		opts.Flags = fs
	}
	return opts
}

func (s setup) load(t testing.TB) (*Config, []string, error) {
	t.Helper()
	return Load(s.options(t))
}

func (s setup) mustLoad(t *testing.T) (*Config, []string) {
	t.Helper()
	c, w, err := s.load(t)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, w
}

func TestDefaults(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults are invalid: %v", err)
	}
	c, w := setup{}.mustLoad(t)
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	want := map[string]any{
		"dsn": "", "operator": "", "log.level": "info", "log.format": "text", "log.file": "",
		"db.connect_timeout": "10s", "db.statement_timeout": "30s", "db.lock_timeout": "5s", "db.max_conns": int64(8),
		"db.pooler": "none", "db.listen_dsn": "", "db.read_dsn": "", "health.max_replica_lag": "30s",
		"routing.on_item_fault": "quarantine", "routing.batch_size": int64(500), "routing.workers": int64(4),
		"routing.poll_interval": "1s", "routing.heartbeat_interval": "2s", "routing.backoff_min": "100ms",
		"routing.backoff_max": "10s", "health.stall_after": "1m", "health.warn_head_age": "5m",
		"health.heartbeat_timeout": "15s", "health.quarantine_warn": int64(1), "health.interval": "1s",
		"console.read_only": false, "console.refresh": "0s", "console.color": "auto", "drill.allow": false,
		"cleanup.batch_size": int64(1000), "cleanup.pause": "100ms", "cleanup.max_rows": int64(100000),
		"repair.default_priority": int64(50), "repair.default_channel": "chat", "metrics.addr": "",
		"demo.orgs": int64(20), "demo.seed": int64(1), "demo.rate": 1.5,
	}
	got := c.Redacted()
	if len(got) != len(want) {
		t.Errorf("Redacted has %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
		if c.Source(k) != "default" {
			t.Errorf("Source(%s) = %q", k, c.Source(k))
		}
	}
	if got, want := fmt.Sprint(d.Redacted()), fmt.Sprint(c.Redacted()); got != want {
		t.Errorf("Default() differs from Load():\n%s\n%s", got, want)
	}
	if c.Routing.OnItemFault != router.PolicyQuarantine || c.Health.StallAfter != time.Minute || c.Demo.Rate != 1.5 {
		t.Errorf("typed fields: %+v", c)
	}
	if c.File != "" {
		t.Errorf("File = %q with no file", c.File)
	}
}

func TestPrecedence(t *testing.T) {
	file := "health:\n  stall_after: 90s\nrouting:\n  on_item_fault: skip\n  workers: 7\nlog:\n  level: debug\n"
	env := map[string]string{
		"ROUTEOPS_HEALTH_STALL_AFTER":    "2m",
		"ROUTEOPS_ROUTING_ON_ITEM_FAULT": "block",
		"ROUTEOPS_LOG_LEVEL":             "warn",
	}
	args := []string{"--stall-after", "3m", "--on-item-fault", "quarantine"}

	type check struct {
		stall  time.Duration
		policy router.FaultPolicy
		level  string
		src    string // source prefix of health.stall_after
	}
	steps := []struct {
		name string
		s    setup
		want check
	}{
		{"defaults", setup{}, check{time.Minute, router.PolicyQuarantine, "info", "default"}},
		{"file", setup{file: file}, check{90 * time.Second, router.PolicySkip, "debug", "file "}},
		{"env", setup{file: file, env: env}, check{2 * time.Minute, router.PolicyBlock, "warn", "env ROUTEOPS_HEALTH_STALL_AFTER"}},
		{"flags", setup{file: file, env: env, args: args}, check{3 * time.Minute, router.PolicyQuarantine, "warn", "flag --stall-after"}},
		// A flag that is defined but not given does not override.
		{"unchanged flags", setup{file: file, env: env, args: []string{}}, check{2 * time.Minute, router.PolicyBlock, "warn", "env "}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			c, w := st.s.mustLoad(t)
			if len(w) != 0 {
				t.Errorf("warnings: %q", w)
			}
			got := check{c.Health.StallAfter, c.Routing.OnItemFault, c.Log.Level, ""}
			want := st.want
			want.src = ""
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if src := c.Source("health.stall_after"); !strings.HasPrefix(src, st.want.src) {
				t.Errorf("Source = %q, want prefix %q", src, st.want.src)
			}
			// A key set only in the file stays from the file.
			if st.s.file != "" && c.Routing.Workers != 7 {
				t.Errorf("routing.workers = %d, want 7 from the file", c.Routing.Workers)
			}
		})
	}

	// Every flag in DefaultFlagKeys reaches its key.
	c, _ := setup{args: []string{"--dsn", "postgres://u:pw@h/db", "--operator", "alice", "--read-only",
		"--metrics-addr", "127.0.0.1:9090"}}.mustLoad(t)
	if c.DSN != "postgres://u:pw@h/db" || c.Operator != "alice" || !c.Console.ReadOnly || c.Metrics.Addr != "127.0.0.1:9090" {
		t.Errorf("flags not applied: %+v", c)
	}
	// Env: dsn and bools in their friendly spellings.
	for _, v := range []string{"1", "yes", "true", "TRUE", "on"} {
		c, _ := setup{env: map[string]string{"ROUTEOPS_DRILL_ALLOW": v, "ROUTEOPS_DSN": "host=h"}}.mustLoad(t)
		if !c.Drill.Allow || c.DSN != "host=h" {
			t.Errorf("ROUTEOPS_DRILL_ALLOW=%s: %v %q", v, c.Drill.Allow, c.DSN)
		}
	}
	for _, v := range []string{"0", "no", "false", "off"} {
		c, _ := setup{file: "drill: {allow: true}", env: map[string]string{"ROUTEOPS_DRILL_ALLOW": v}}.mustLoad(t)
		if c.Drill.Allow {
			t.Errorf("ROUTEOPS_DRILL_ALLOW=%s left it on", v)
		}
	}
	// An empty variable counts as unset.
	c, _ = setup{file: "log: {level: debug}", env: map[string]string{"ROUTEOPS_LOG_LEVEL": ""}}.mustLoad(t)
	if c.Log.Level != "debug" {
		t.Errorf("empty env overrode the file: %q", c.Log.Level)
	}
}

func TestFileFormats(t *testing.T) {
	files := map[string]string{
		".yaml": "dsn: host=h\nrouting:\n  batch_size: 250\n  poll_interval: 500ms\nconsole:\n  read_only: true\ndemo:\n  rate: 2.5\n  seed: -3\n",
		".yml":  "dsn: host=h\nrouting: {batch_size: 250, poll_interval: 500ms}\nconsole: {read_only: yes}\ndemo: {rate: 2.5, seed: -3}\n",
		".toml": "dsn = \"host=h\"\n[routing]\nbatch_size = 250\npoll_interval = \"500ms\"\n[console]\nread_only = true\n[demo]\nrate = 2.5\nseed = -3\n",
		".json": `{"dsn": "host=h", "routing": {"batch_size": 250, "poll_interval": "500ms"}, "console": {"read_only": true}, "demo": {"rate": 2.5, "seed": -3}}`,
		".conf": "dsn: host=h\nrouting:\n  batch_size: 250\n  poll_interval: 500ms\nconsole:\n  read_only: true\ndemo:\n  rate: 2.5\n  seed: -3\n",
	}
	for ext, content := range files {
		t.Run(ext, func(t *testing.T) {
			c, w := setup{file: content, ext: ext}.mustLoad(t)
			if len(w) != 0 {
				t.Errorf("warnings: %q", w)
			}
			if c.DSN != "host=h" || c.Routing.BatchSize != 250 || c.Routing.PollInterval != 500*time.Millisecond ||
				!c.Console.ReadOnly || c.Demo.Rate != 2.5 || c.Demo.Seed != -3 {
				t.Errorf("got %+v", c)
			}
			if !strings.HasSuffix(c.File, "routeops"+ext) || c.Source("routing.batch_size") != "file "+c.File {
				t.Errorf("File %q, source %q", c.File, c.Source("routing.batch_size"))
			}
		})
	}
	// Keys are case-insensitive (viper lower-cases them); null means unset.
	c, w := setup{file: "Routing:\n  Batch_Size: 7\nlog:\n  level:\nhealth:\n"}.mustLoad(t)
	if c.Routing.BatchSize != 7 || c.Log.Level != "info" || len(w) != 0 {
		t.Errorf("batch %d level %q warnings %q", c.Routing.BatchSize, c.Log.Level, w)
	}
	// Durations of 0 need no unit.
	c, _ = setup{file: "console: {refresh: 0}\ncleanup: {pause: 0}"}.mustLoad(t)
	if c.Console.Refresh != 0 || c.Cleanup.Pause != 0 {
		t.Errorf("zero durations: %v %v", c.Console.Refresh, c.Cleanup.Pause)
	}
}

// badValues has at least one bad value for every rule. Values are given as
// ROUTEOPS_* environment strings; want is a substring of the message.
var badValues = []struct {
	key, value, want string
}{
	{"operator", "eve\nroot", `"eve\nroot" contains control characters`},
	{"log.level", "verbose", `"verbose" is not allowed (allowed: debug, info, warn, error)`},
	{"log.format", "xml", `"xml" is not allowed (allowed: text, json)`},
	{"db.connect_timeout", "0s", `"0s" is out of range (allowed: a duration > 0s and <= 5m)`},
	{"db.connect_timeout", "6m", `"6m" is out of range`},
	{"db.connect_timeout", "soon", `"soon" is not a duration (e.g. 30s, 5m)`},
	{"db.statement_timeout", "-1s", `"-1s" is out of range (allowed: a duration > 0s)`},
	{"db.lock_timeout", "0s", `"0s" is out of range`},
	{"db.max_conns", "0", `0 is out of range (allowed: 1 to 256)`},
	{"db.max_conns", "257", `257 is out of range`},
	{"db.max_conns", "many", `"many" is not an integer (allowed: 1 to 256)`},
	{"db.pooler", "pgbouncer", `"pgbouncer" is not allowed (allowed: none, session, transaction)`},
	{"routing.on_item_fault", "qurantine", `"qurantine" is not allowed (allowed: quarantine, skip, block)`},
	{"routing.on_item_fault", "Quarantine", `"Quarantine" is not allowed`},
	{"routing.batch_size", "0", `0 is out of range (allowed: 1 to 10000)`},
	{"routing.batch_size", "10001", `10001 is out of range`},
	{"routing.batch_size", "1.5", `"1.5" is not an integer`},
	{"routing.workers", "0", `0 is out of range (allowed: 1 to 256)`},
	{"routing.workers", "257", `257 is out of range`},
	{"routing.poll_interval", "9ms", `"9ms" is out of range (allowed: a duration >= 10ms)`},
	{"routing.heartbeat_interval", "99ms", `"99ms" is out of range (allowed: a duration >= 100ms)`},
	{"routing.backoff_min", "0s", `"0s" is out of range`},
	{"routing.backoff_max", "50ms", `"50ms" must be at least routing.backoff_min (100ms)`},
	{"health.stall_after", "999ms", `"999ms" is out of range (allowed: a duration >= 1s)`},
	{"health.stall_after", "soon", `"soon" is not a duration (e.g. 30s, 5m)`},
	{"health.stall_after", "60", `"60" is not a duration: give a unit (e.g. 30s, 5m)`},
	{"health.warn_head_age", "0s", `"0s" is out of range`},
	{"health.heartbeat_timeout", "2s", `"2s" must be longer than routing.heartbeat_interval (2s)`},
	{"health.quarantine_warn", "-1", `-1 is out of range (allowed: an integer >= 0)`},
	{"health.interval", "99ms", `"99ms" is out of range (allowed: a duration >= 100ms)`},
	{"health.max_replica_lag", "0s", `"0s" is out of range (allowed: a duration > 0s)`},
	{"console.read_only", "maybe", `"maybe" is not a boolean (allowed: true, false)`},
	{"console.refresh", "50ms", `"50ms" is out of range (allowed: 0 (auto) or a duration >= 100ms)`},
	{"console.refresh", "-1s", `"-1s" is out of range`},
	{"console.color", "rainbow", `"rainbow" is not allowed (allowed: auto, always, never)`},
	{"drill.allow", "sure", `"sure" is not a boolean`},
	{"cleanup.batch_size", "0", `0 is out of range (allowed: 1 to 100000)`},
	{"cleanup.batch_size", "100001", `100001 is out of range`},
	{"cleanup.pause", "-1ms", `"-1ms" is out of range (allowed: a duration >= 0s)`},
	{"cleanup.max_rows", "0", `0 is out of range (allowed: an integer >= 1)`},
	{"repair.default_priority", "-1", `-1 is out of range (allowed: 0 to 100)`},
	{"repair.default_priority", "101", `101 is out of range`},
	{"repair.default_channel", "fax", `"fax" is not allowed (allowed: chat, email, sms, voice)`},
	{"metrics.addr", "localhost", `"localhost" is not host:port (e.g. :9090, 127.0.0.1:9090)`},
	{"metrics.addr", "h:http", `"h:http" is not host:port`},
	{"metrics.addr", ":99999", `":99999" is not host:port`},
	{"demo.orgs", "0", `0 is out of range (allowed: 1 to 5000)`},
	{"demo.orgs", "5001", `5001 is out of range`},
	{"demo.seed", "x", `"x" is not an integer (allowed: any integer)`},
	{"demo.rate", "0", `0 is out of range (allowed: a number > 0 and <= 1000)`},
	{"demo.rate", "1000.5", `1000.5 is out of range`},
	{"demo.rate", "NaN", `NaN is out of range`},
	{"demo.rate", "fast", `"fast" is not a number`},
}

func TestValidationRules(t *testing.T) {
	covered := map[string]bool{}
	for _, bv := range badValues {
		covered[bv.key] = true
		t.Run(bv.key+"="+bv.value, func(t *testing.T) {
			env := EnvName(bv.key)
			_, _, err := setup{env: map[string]string{env: bv.value}}.load(t)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if ce.Key != bv.key {
				t.Errorf("Key = %q, want %q", ce.Key, bv.key)
			}
			want := "config: " + bv.key + ": " + bv.want
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message\n  %s\nwant prefix\n  %s", err, want)
			}
			if !strings.HasSuffix(err.Error(), "; from environment variable "+env) {
				t.Errorf("message does not name its source: %s", err)
			}
			if ce.Allowed == "" {
				t.Errorf("Allowed is empty")
			}
		})
	}
	// Every key that has a rule or a type other than string is covered.
	for _, k := range keys {
		if (k.check != nil || k.kind != kString) && !covered[k.key] {
			t.Errorf("no bad value tested for %s", k.key)
		}
	}

	// The examples of the brief, exactly.
	_, _, err := setup{env: map[string]string{"ROUTEOPS_ROUTING_ON_ITEM_FAULT": "qurantine"}}.load(t)
	if got, want := err.Error(), `config: routing.on_item_fault: "qurantine" is not allowed (allowed: quarantine, skip, block); from environment variable ROUTEOPS_ROUTING_ON_ITEM_FAULT`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	c := Default()
	c.Health.StallAfter = 0
	if got, want := c.Validate().Error(), `config: health.stall_after: "0s" is out of range (allowed: a duration >= 1s)`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	_, _, err = setup{file: "health: {stall_after: soon}"}.load(t)
	if want := `config: health.stall_after: "soon" is not a duration (e.g. 30s, 5m); in `; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want prefix %s", err, want)
	}

	// Cross-key rule: a longer heartbeat interval makes the default timeout wrong.
	_, _, err = setup{env: map[string]string{"ROUTEOPS_ROUTING_HEARTBEAT_INTERVAL": "20s"}}.load(t)
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "health.heartbeat_timeout" || !strings.Contains(err.Error(), "routing.heartbeat_interval (20s)") {
		t.Errorf("err = %v", err)
	}
	// A valid edge passes.
	if _, _, err := (setup{env: map[string]string{"ROUTEOPS_DB_CONNECT_TIMEOUT": "5m", "ROUTEOPS_CONSOLE_REFRESH": "100ms",
		"ROUTEOPS_METRICS_ADDR": ":0", "ROUTEOPS_DEMO_RATE": "1000", "ROUTEOPS_HEALTH_QUARANTINE_WARN": "0"}}).load(t); err != nil {
		t.Errorf("valid edges refused: %v", err)
	}
}

func TestFileTypeErrors(t *testing.T) {
	cases := []struct {
		file, key, want string
	}{
		{"routing: {batch_size: \"lots\"}", "routing.batch_size", `"lots" is not an integer (allowed: 1 to 10000)`},
		{"routing: {batch_size: 1.5}", "routing.batch_size", `1.5 is not an integer`},
		{"routing: {batch_size: true}", "routing.batch_size", `true is not an integer`},
		{"health: {stall_after: 60}", "health.stall_after", `60 is not a duration: give a unit (e.g. 30s, 5m)`},
		{"health: {stall_after: [1s]}", "health.stall_after", `a list is not a duration`},
		{"console: {read_only: 1}", "console.read_only", `1 is not a boolean (allowed: true, false)`},
		{"log: {level: [info]}", "log.level", `a list is not allowed (allowed: debug, info, warn, error)`},
		{"log: {level: {x: 1}}", "log.level", `a mapping is not allowed`},
		{"demo: {rate: fast}", "demo.rate", `"fast" is not a number`},
		{"routing: 5", "routing", `5 is not a section (it holds keys such as routing.on_item_fault)`},
		{"log: [a, b]", "log", `a list is not a section`},
		{"dsn: [postgres://u:hunter2@h/db]", "dsn", `the value is not a string`},
		{"dsn: {a: 1}", "dsn", `the value is not a string`},
		{"operator: {name: x}", "operator", `a mapping is not a string`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, _, err := setup{file: tc.file}.load(t)
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("err = %v, want *Error for %s", err, tc.key)
			}
			if want := "config: " + tc.key + ": " + tc.want; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message\n  %s\nwant prefix\n  %s", err, want)
			}
			if !strings.Contains(err.Error(), "; in ") {
				t.Errorf("message does not name the file: %s", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("password in message: %s", err)
			}
		})
	}
	// Scalars where strings are expected keep their text.
	c, _ := setup{file: "operator: 1234\nlog: {file: 7}"}.mustLoad(t)
	if c.Operator != "1234" || c.Log.File != "7" {
		t.Errorf("operator %q log.file %q", c.Operator, c.Log.File)
	}
	// JSON integers arrive as floats: whole ones are fine.
	c, _ = setup{file: `{"routing": {"batch_size": 1e3}}`, ext: ".json"}.mustLoad(t)
	if c.Routing.BatchSize != 1000 {
		t.Errorf("batch_size %d", c.Routing.BatchSize)
	}
}

func TestUnknownKeys(t *testing.T) {
	file := "routing:\n  on_item_falt: skip\n  batch_size: 5\nrooting:\n  workers: 5\non_item_fault: block\nbatch_size: 3\nbogus: 1\nlog:\n  level: info\n  levle: debug\nrouting.on-item-fault: skip\n"
	env := map[string]string{
		"ROUTEOPS_ROUTING_ON_ITEM_FALT": "skip",
		"ROUTEOPS_TEST_DSN":             "postgres://u:secretpw@h/db",
		"ROUTEOPS_CONFIG_DIR":           "x",
		"ROUTEOPS_LOGLEVEL":             "debug",
		"ROUTEOPS_WHATEVER_THIS_IS":     "1",
		"NOT_OURS":                      "1",
	}
	s := setup{file: file, env: env}
	c, w, err := s.load(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.Routing.BatchSize != 5 || c.Routing.OnItemFault != router.PolicyQuarantine {
		t.Errorf("unknown keys changed the config: %+v", c.Routing)
	}
	want := []string{
		"unknown config key batch_size in * (did you mean routing.batch_size or cleanup.batch_size?)",
		"unknown config key bogus in *",
		"unknown config key log.levle in * (did you mean log.level?)",
		"unknown config key on_item_fault in * (did you mean routing.on_item_fault?)",
		"unknown config key rooting.workers in * (did you mean routing.workers?)",
		"unknown config key routing.on-item-fault in * (did you mean routing.on_item_fault?)",
		"unknown config key routing.on_item_falt in * (did you mean routing.on_item_fault?)",
		"unknown config key ROUTEOPS_CONFIG_DIR in the environment",
		"unknown config key ROUTEOPS_LOGLEVEL in the environment (did you mean ROUTEOPS_LOG_LEVEL?)",
		"unknown config key ROUTEOPS_ROUTING_ON_ITEM_FALT in the environment (did you mean ROUTEOPS_ROUTING_ON_ITEM_FAULT?)",
		"unknown config key ROUTEOPS_WHATEVER_THIS_IS in the environment",
	}
	got := slices.Clone(w)
	for i := range got {
		got[i] = strings.Replace(got[i], c.File, "*", 1)
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// Warnings come back with an error too.
	_, w, err = setup{file: "bogus: 1\nlog: {level: loud}"}.load(t)
	if err == nil || len(w) != 1 {
		t.Errorf("err %v warnings %q", err, w)
	}
}

func TestBrokenFiles(t *testing.T) {
	cases := []struct {
		name, ext, file, want string
	}{
		{"yaml", ".yaml", "routing:\n  batch_size: 5\n bad: [\n", "invalid YAML: line 2: did not find expected key"},
		{"yaml tab", ".yaml", "routing:\n\tbatch_size: 5\n", "invalid YAML: line 2"},
		{"yaml scalar", ".yaml", "just words\n", "the top level must be a mapping of keys"},
		{"yaml duplicate", ".yaml", "dsn: a\ndsn: b\n", `mapping key "dsn" already defined`},
		{"json", ".json", "{\n  \"routing\": {\n    \"batch_size\": 5,\n  }\n}\n", "line 4: invalid JSON: invalid character '}'"},
		{"json array", ".json", "[1, 2]", "line 1: invalid JSON: the top level must be an object of keys"},
		{"toml", ".toml", "[routing]\nbatch_size = = 5\n", "line 2, column"},
		{"toml unclosed", ".toml", "dsn = \"host=h\n", "line 1, column"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := setup{file: tc.file, ext: tc.ext}.options(t)
			_, _, err := Load(opts)
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want *FileError", err, err)
			}
			if fe.Path != opts.File || !strings.HasPrefix(err.Error(), "config: file "+opts.File+": ") {
				t.Errorf("message does not name the file: %s", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestFileDiscovery(t *testing.T) {
	// An explicitly named file must exist.
	for _, opts := range []LoadOptions{
		{File: "/nonexistent/routeops.yaml", Env: noEnv},
		{Env: envOf(map[string]string{"ROUTEOPS_CONFIG": "/nonexistent/routeops.yaml"})},
	} {
		_, _, err := Load(opts)
		var fe *FileError
		if !errors.As(err, &fe) || err.Error() != "config: file /nonexistent/routeops.yaml: does not exist" {
			t.Errorf("err = %v", err)
		}
	}
	dir := t.TempDir()
	_, _, err := Load(LoadOptions{File: dir, Env: noEnv})
	if err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("a directory as the file: %v", err)
	}

	work, home, xdg := t.TempDir(), t.TempDir(), t.TempDir()
	write := func(p, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	level := func(env map[string]string) (string, string) {
		t.Helper()
		c, _, err := Load(LoadOptions{Dir: work, Env: envOf(env)})
		if err != nil {
			t.Fatal(err)
		}
		return c.Log.Level, c.File
	}
	// Nothing anywhere: no file, no error.
	if lv, f := level(map[string]string{"HOME": home}); lv != "info" || f != "" {
		t.Errorf("no files: %s %s", lv, f)
	}
	write(filepath.Join(home, ".config", "routeops", "config.yaml"), "log: {level: error}")
	if lv, f := level(map[string]string{"HOME": home}); lv != "error" || !strings.HasPrefix(f, home) {
		t.Errorf("~/.config: %s %s", lv, f)
	}
	write(filepath.Join(xdg, "routeops", "config.yaml"), "log: {level: warn}")
	if lv, _ := level(map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg}); lv != "warn" {
		t.Errorf("XDG_CONFIG_HOME: %s", lv)
	}
	write(filepath.Join(work, "routeops.yaml"), "log: {level: debug}")
	if lv, f := level(map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg}); lv != "debug" || f != filepath.Join(work, "routeops.yaml") {
		t.Errorf("./routeops.yaml: %s %s", lv, f)
	}
	// ROUTEOPS_CONFIG and File beat the search.
	other := filepath.Join(t.TempDir(), "other.toml")
	write(other, "[log]\nlevel = \"error\"\n")
	if lv, _ := level(map[string]string{"ROUTEOPS_CONFIG": other}); lv != "error" {
		t.Errorf("ROUTEOPS_CONFIG: %s", lv)
	}
	c, _, err := Load(LoadOptions{Dir: work, File: other, Env: envOf(map[string]string{"ROUTEOPS_CONFIG": "/nonexistent"})})
	if err != nil || c.Log.Level != "error" {
		t.Errorf("File over ROUTEOPS_CONFIG: %v", err)
	}
}

func noEnv(string) (string, bool) { return "", false }

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFlagKeys(t *testing.T) {
	fs := newFlags()
	fs.Int("batch", 0, "")
	if err := fs.Parse([]string{"--batch", "77"}); err != nil {
		t.Fatal(err)
	}
	c, _, err := Load(LoadOptions{Env: noEnv, Dir: t.TempDir(), Flags: fs, FlagKeys: map[string]string{"batch": "routing.batch_size", "absent": "dsn"}})
	if err != nil || c.Routing.BatchSize != 77 || c.Source("routing.batch_size") != "flag --batch" {
		t.Fatalf("custom flag: %v", err)
	}
	_, _, err = Load(LoadOptions{Env: noEnv, Dir: t.TempDir(), Flags: fs, FlagKeys: map[string]string{"batch": "routing.batchsize"}})
	if err == nil || !strings.Contains(err.Error(), `flag --batch is mapped to unknown key "routing.batchsize"`) {
		t.Errorf("unknown key mapping: %v", err)
	}
	// A typed flag whose value is not valid for its key.
	fs = newFlags()
	if err := fs.Parse([]string{"--stall-after", "500ms"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(LoadOptions{Env: noEnv, Dir: t.TempDir(), Flags: fs})
	if err == nil || err.Error() != `config: health.stall_after: "500ms" is out of range (allowed: a duration >= 1s); from flag --stall-after` {
		t.Errorf("err = %v", err)
	}
}

func TestReference(t *testing.T) {
	ref := Reference()
	if len(ref) != len(keys) {
		t.Fatalf("%d docs for %d keys", len(ref), len(keys))
	}
	d := Default().Redacted()
	seen := map[string]bool{}
	for _, kd := range ref {
		if seen[kd.Key] {
			t.Errorf("duplicate %s", kd.Key)
		}
		seen[kd.Key] = true
		if kd.Doc == "" || kd.Allowed == "" || kd.Type == "" || kd.Default == "" {
			t.Errorf("incomplete doc: %+v", kd)
		}
		if kd.Env != "ROUTEOPS_"+strings.ToUpper(strings.ReplaceAll(kd.Key, ".", "_")) {
			t.Errorf("env %s for %s", kd.Env, kd.Key)
		}
		// The documented default, set through the environment, loads to
		// the real default.
		def := kd.Default
		if def == `""` {
			def = ""
		}
		if def != "" {
			c, _, err := setup{env: map[string]string{kd.Env: def}}.load(t)
			if err != nil {
				t.Errorf("%s: documented default %q does not load: %v", kd.Key, def, err)
				continue
			}
			if got := c.Redacted()[kd.Key]; got != d[kd.Key] {
				t.Errorf("%s: documented default %q loads as %#v, want %#v", kd.Key, def, got, d[kd.Key])
			}
		}
		// Enums list exactly their allowed values.
		if kd.Type == "enum" {
			for _, a := range strings.Split(kd.Allowed, ", ") {
				if _, _, err := (setup{env: map[string]string{kd.Env: a}}).load(t); err != nil {
					t.Errorf("%s: documented value %q refused: %v", kd.Key, a, err)
				}
			}
		}
	}
	for f, k := range DefaultFlagKeys() {
		i := slices.IndexFunc(ref, func(kd KeyDoc) bool { return kd.Key == k })
		if i < 0 || ref[i].Flag != "--"+f {
			t.Errorf("flag --%s for %s not documented", f, k)
		}
	}
	if i := slices.IndexFunc(ref, func(kd KeyDoc) bool { return kd.Key == "routing.on_item_fault" }); ref[i].Allowed != "quarantine, skip, block" {
		t.Errorf("on_item_fault allowed: %q", ref[i].Allowed)
	}
	if !slices.Equal(Keys(), func() []string {
		var out []string
		for _, kd := range ref {
			out = append(out, kd.Key)
		}
		return out
	}()) {
		t.Errorf("Keys() and Reference() disagree")
	}
}

func TestConsoleRefreshAndRedacted(t *testing.T) {
	c := Default()
	if c.ConsoleRefresh() != time.Second {
		t.Errorf("demo refresh %v", c.ConsoleRefresh())
	}
	c.DSN = "postgres://u:s3cr3t@h/db"
	if c.ConsoleRefresh() != 2*time.Second {
		t.Errorf("db refresh %v", c.ConsoleRefresh())
	}
	c.Console.Refresh = 300 * time.Millisecond
	if c.ConsoleRefresh() != 300*time.Millisecond {
		t.Errorf("set refresh %v", c.ConsoleRefresh())
	}
	r := c.Redacted()
	if r["dsn"] != "postgres://u:xxxxx@h/db" || r["console.refresh"] != "300ms" {
		t.Errorf("Redacted: %v", r)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "s3cr3t") {
		t.Errorf("password in %s", b)
	}
}

// genPassword draws passwords with every awkward character.
func genPassword(t *rapid.T) string {
	return rapid.StringMatching(`[A-Za-z0-9 !"#$%&'()*+,./:;<=>?@\[\\\]^_{|}~é-]{6,24}`).Draw(t, "password")
}

// dsnForms embeds pw in every kind of DSN; it returns the DSN and the
// password as written there.
func dsnForm(t *rapid.T, pw string) (dsn, written string) {
	switch rapid.IntRange(0, 5).Draw(t, "form") {
	case 0:
		w := redacttest.PercentEncodeAll(pw)
		return "postgres://routeops:" + w + "@db.internal:5432/routeops?sslmode=require", w
	case 1:
		w := redacttest.PercentEncodeSome(pw)
		return "postgresql://routeops:" + w + "@db.internal/routeops", w
	case 2:
		w := redacttest.PercentEncodeAll(pw)
		return "postgres://db.internal/routeops?user=routeops&password=" + w + "&sslmode=disable", w
	case 3:
		w := redacttest.QuoteKeyword(pw)
		return "host=db.internal user=routeops password=" + w + " dbname=routeops", w
	case 4:
		w := redacttest.QuoteKeyword(pw)
		return "host=db.internal sslpassword = " + w + " sslmode=verify-full", w
	default:
		w := redacttest.EscapeKeyword(pw)
		return "password=" + w + " host=db.internal", w
	}
}

// TestNoPasswordInMessages: whatever goes wrong, and wherever the DSN comes
// from, no error or warning holds its password, as written or decoded.
func TestNoPasswordInMessages(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		pw := genPassword(rt)
		dsn, written := dsnForm(rt, pw)
		forbidden := []string{pw, written}

		// redact.DSN and redact.Text.
		if out := redact.DSN(dsn); strings.Contains(out, pw) || strings.Contains(out, written) {
			rt.Fatalf("redact.DSN(%q) = %q", dsn, out)
		}
		msg := fmt.Sprintf("connect %s failed: password %s (%q) rejected, raw %s", dsn, pw, pw, written)
		if out := redact.Text(msg, dsn); strings.Contains(out, pw) || strings.Contains(out, written) {
			rt.Fatalf("redact.Text(%q) = %q", msg, out)
		}

		// Load, with the DSN in one layer and trouble in the same or another.
		where := rapid.SampledFrom([]string{"file", "env", "flag"}).Draw(rt, "where")
		file := map[string]any{}
		env := map[string]string{}
		var args []string
		switch where {
		case "file":
			file["dsn"] = dsn
		case "env":
			env["ROUTEOPS_DSN"] = dsn
		default:
			args = append(args, "--dsn", dsn)
		}
		broken := false
		switch rapid.IntRange(0, 8).Draw(rt, "trouble") {
		case 0:
			file["log"] = map[string]any{"level": pw}
		case 1:
			env["ROUTEOPS_LOG_LEVEL"] = written
		case 2:
			file["x"+pw] = 1
			file["routing"] = map[string]any{pw: 1}
		case 3:
			env["ROUTEOPS_"+pw] = "1"
		case 4:
			broken = true
		case 5:
			file["metrics"] = map[string]any{"addr": dsn}
		case 6:
			args = append(args, "--operator", pw+"\x01")
		case 7:
			file["dsn"] = []any{dsn}
		case 8:
			env["ROUTEOPS_DEMO_RATE"] = pw
		}
		content, _ := json.Marshal(file)
		if broken {
			content = append(content[:len(content)-1], []byte(`, "oops": `+pw+` }`)...)
		}
		ext := rapid.SampledFrom([]string{".json", ".yaml"}).Draw(rt, "ext")
		s := setup{file: string(content), ext: ext, env: env, args: args}
		if args == nil {
			s.args = []string{}
		}
		_, warnings, err := s.load(t)
		msgs := warnings
		if err != nil {
			msgs = append(msgs, err.Error())
			var ce *Error
			if errors.As(err, &ce) {
				msgs = append(msgs, ce.Value, ce.Msg, ce.Allowed, ce.Key)
			}
		}
		for _, m := range msgs {
			for _, f := range forbidden {
				if strings.Contains(m, f) {
					rt.Fatalf("message %q holds the password %q (dsn %q)", m, f, dsn)
				}
			}
		}
	})
}
