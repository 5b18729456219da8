// Package config loads routeops' configuration: defaults, then a config
// file (YAML, TOML or JSON), then ROUTEOPS_* environment variables, then
// command-line flags, each layer overriding the one before. It validates
// every value, naming the key and the allowed values when one is wrong, and
// it keeps the DSN's password out of every message (with package redact).
//
// Reference() documents every key.
package config

import (
	"time"

	"github.com/routeops/routeops/redact"
	"github.com/routeops/routeops/router"
)

// Config is the effective configuration. Build it with Load or Default.
type Config struct {
	// DSN is the PostgreSQL connection string (dsn). Empty: the embedded
	// demo store. It holds a password, as DB.ListenDSN and DB.ReadDSN may:
	// print them only through redact.DSN.
	DSN string
	// Operator is recorded with every mutation (operator). Empty: resolved
	// later from SUDO_USER or USER.
	Operator string

	Log     LogConfig
	DB      DBConfig
	Routing RoutingConfig
	Health  HealthConfig
	Console ConsoleConfig
	Drill   DrillConfig
	Cleanup CleanupConfig
	Repair  RepairConfig
	Metrics MetricsConfig
	Demo    DemoConfig

	// File is the config file that was read, or "" when none was.
	File string

	// sources records where each key's value came from.
	sources map[string]string
}

// LogConfig is log.*.
type LogConfig struct {
	Level  string // log.level: debug, info, warn, error
	Format string // log.format: text, json
	File   string // log.file: empty for standard error
}

// DBConfig is db.*.
type DBConfig struct {
	ConnectTimeout   time.Duration // db.connect_timeout
	StatementTimeout time.Duration // db.statement_timeout
	LockTimeout      time.Duration // db.lock_timeout
	MaxConns         int           // db.max_conns
	Pooler           string        // db.pooler: none, session, transaction
	// ListenDSN and ReadDSN hold passwords like DSN: print them only
	// through redact.DSN.
	ListenDSN string // db.listen_dsn
	ReadDSN   string // db.read_dsn
}

// RoutingConfig is routing.*.
type RoutingConfig struct {
	OnItemFault       router.FaultPolicy // routing.on_item_fault
	BatchSize         int                // routing.batch_size
	Workers           int                // routing.workers
	PollInterval      time.Duration      // routing.poll_interval
	HeartbeatInterval time.Duration      // routing.heartbeat_interval
	BackoffMin        time.Duration      // routing.backoff_min
	BackoffMax        time.Duration      // routing.backoff_max
}

// HealthConfig is health.*.
type HealthConfig struct {
	StallAfter       time.Duration // health.stall_after
	WarnHeadAge      time.Duration // health.warn_head_age
	HeartbeatTimeout time.Duration // health.heartbeat_timeout
	QuarantineWarn   int           // health.quarantine_warn (0 disables)
	Interval         time.Duration // health.interval
	MaxReplicaLag    time.Duration // health.max_replica_lag
}

// ConsoleConfig is console.*.
type ConsoleConfig struct {
	ReadOnly bool          // console.read_only
	Refresh  time.Duration // console.refresh (0: auto, see Config.ConsoleRefresh)
	Color    string        // console.color: auto, always, never
}

// DrillConfig is drill.*.
type DrillConfig struct {
	Allow bool // drill.allow
}

// CleanupConfig is cleanup.*.
type CleanupConfig struct {
	BatchSize int           // cleanup.batch_size
	Pause     time.Duration // cleanup.pause
	MaxRows   int           // cleanup.max_rows
}

// RepairConfig is repair.*.
type RepairConfig struct {
	DefaultPriority int    // repair.default_priority
	DefaultChannel  string // repair.default_channel: chat, email, sms, voice
}

// MetricsConfig is metrics.*.
type MetricsConfig struct {
	Addr string // metrics.addr: host:port, empty for none
}

// DemoConfig is demo.*.
type DemoConfig struct {
	Orgs int     // demo.orgs
	Seed int64   // demo.seed
	Rate float64 // demo.rate: arrivals per second per org
}

// Default returns the built-in defaults. It is valid.
func Default() *Config {
	c := &Config{sources: map[string]string{}}
	for _, k := range keys {
		k.set(c, k.def)
		c.sources[k.key] = "default"
	}
	return c
}

// Validate checks every value against its rule and returns the first
// problem as an *Error naming the key, the value and the allowed values.
func (c *Config) Validate() error {
	sec := c.secrets()
	for _, k := range keys {
		if k.check == nil {
			continue
		}
		if msg := k.check(c); msg != "" {
			e := &Error{Key: k.key, Allowed: k.allowed, Msg: msg, Source: c.sources[k.key]}
			if !k.secret {
				e.Value = formatValue(k.get(c))
			}
			return scrubError(sec, e)
		}
	}
	return nil
}

// ConsoleRefresh is the console's redraw interval with "auto" (0)
// resolved: 1s on the embedded demo, 2s on a database.
func (c *Config) ConsoleRefresh() time.Duration {
	if c.Console.Refresh > 0 {
		return c.Console.Refresh
	}
	if c.DSN == "" {
		return time.Second
	}
	return 2 * time.Second
}

// Source says where a key's effective value came from: "default",
// "file PATH", "env ROUTEOPS_...", or "flag --NAME". It returns "" for an
// unknown key.
func (c *Config) Source(key string) string {
	if _, ok := keyIndex[key]; !ok {
		return ""
	}
	if s, ok := c.sources[key]; ok {
		return s
	}
	return "default"
}

// Redacted returns every key's effective value, keyed by the dotted key,
// for display (`routeops config`). Every DSN is redacted with redact.DSN.
// Durations are strings in Go syntax ("30s"), ints are int64, floats
// float64, bools bool, everything else string.
func (c *Config) Redacted() map[string]any {
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		v := k.get(c)
		switch v := v.(type) {
		case time.Duration:
			out[k.key] = FormatDuration(v)
		default:
			out[k.key] = v
		}
	}
	for _, k := range keys {
		if k.secret {
			out[k.key] = redact.DSN(k.get(c).(string))
		}
	}
	return out
}

// secrets are the passwords of every DSN in the configuration.
func (c *Config) secrets() redact.Secrets {
	var s redact.Secrets
	for _, k := range keys {
		if k.secret {
			s.AddDSN(k.get(c).(string))
		}
	}
	return s
}

// Scrub removes the password of every DSN in the configuration (dsn,
// db.listen_dsn, db.read_dsn) from s, as Redact does for one DSN.
func (c *Config) Scrub(s string) string {
	for _, k := range keys {
		if k.secret {
			s = redact.Text(s, k.get(c).(string))
		}
	}
	return s
}

// Keys lists every config key in display order.
func Keys() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.key
	}
	return out
}
