package config

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/routeops/routeops/router"
)

// kind is the type of a config key's value.
type kind int

const (
	kString kind = iota
	kEnum
	kInt
	kFloat
	kBool
	kDuration
)

func (k kind) String() string {
	switch k {
	case kString:
		return "string"
	case kEnum:
		return "enum"
	case kInt:
		return "int"
	case kFloat:
		return "float"
	case kBool:
		return "bool"
	case kDuration:
		return "duration"
	}
	return "?"
}

// keyDef describes one config key. The table below is the single source of
// truth for defaults, decoding, validation and the reference docs.
type keyDef struct {
	key  string
	kind kind
	// def is the typed default: string, int64, float64, bool or
	// time.Duration.
	def     any
	enum    []string // allowed values of a kEnum
	allowed string   // human description of the allowed values
	doc     string
	secret  bool // never echo the value
	get     func(c *Config) any
	set     func(c *Config, v any)
	// check returns "" when the value is fine, otherwise the message after
	// the key (it must quote the value).
	check func(c *Config) string
}

// intKey, durKey and so on build keyDefs for the common shapes.

func strKey(key, doc, allowed string, p func(c *Config) *string, check func(c *Config) string) keyDef {
	return keyDef{key: key, kind: kString, def: "", allowed: allowed, doc: doc,
		get:   func(c *Config) any { return *p(c) },
		set:   func(c *Config, v any) { *p(c) = v.(string) },
		check: check}
}

func enumKey(key, def, doc string, values []string, p func(c *Config) *string) keyDef {
	allowed := strings.Join(values, ", ")
	return keyDef{key: key, kind: kEnum, def: def, enum: values, allowed: allowed, doc: doc,
		get: func(c *Config) any { return *p(c) },
		set: func(c *Config, v any) { *p(c) = v.(string) },
		check: func(c *Config) string {
			v := *p(c)
			for _, a := range values {
				if v == a {
					return ""
				}
			}
			return notAllowed(v, allowed)
		}}
}

func notAllowed(v, allowed string) string {
	return fmt.Sprintf("%q is not allowed (allowed: %s)", v, allowed)
}

func intKey(key string, def int, lo, hi int64, doc string, p func(c *Config) *int) keyDef {
	allowed := intAllowed(lo, hi)
	return keyDef{key: key, kind: kInt, def: int64(def), allowed: allowed, doc: doc,
		get: func(c *Config) any { return int64(*p(c)) },
		set: func(c *Config, v any) { *p(c) = int(v.(int64)) },
		check: func(c *Config) string {
			v := int64(*p(c))
			if v < lo || v > hi {
				return fmt.Sprintf("%d is out of range (allowed: %s)", v, allowed)
			}
			return ""
		}}
}

func intAllowed(lo, hi int64) string {
	switch {
	case hi == math.MaxInt64 && lo == math.MinInt64:
		return "any integer"
	case hi == math.MaxInt64:
		return fmt.Sprintf("an integer >= %d", lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

// durRule is a range rule for a duration: min (inclusive unless minExcl)
// and an optional max (inclusive, 0 = none).
type durRule struct {
	min     time.Duration
	minExcl bool
	max     time.Duration
}

func (r durRule) ok(d time.Duration) bool {
	if r.minExcl && d <= r.min || !r.minExcl && d < r.min {
		return false
	}
	return r.max == 0 || d <= r.max
}

func (r durRule) String() string {
	var s string
	if r.minExcl {
		s = "a duration > " + FormatDuration(r.min)
	} else {
		s = "a duration >= " + FormatDuration(r.min)
	}
	if r.max > 0 {
		s += " and <= " + FormatDuration(r.max)
	}
	return s
}

func durKey(key string, def time.Duration, rule durRule, doc string, p func(c *Config) *time.Duration) keyDef {
	allowed := rule.String()
	return keyDef{key: key, kind: kDuration, def: def, allowed: allowed, doc: doc,
		get: func(c *Config) any { return *p(c) },
		set: func(c *Config, v any) { *p(c) = v.(time.Duration) },
		check: func(c *Config) string {
			if d := *p(c); !rule.ok(d) {
				return outOfRange(d, allowed)
			}
			return ""
		}}
}

func outOfRange(d time.Duration, allowed string) string {
	return fmt.Sprintf("%q is out of range (allowed: %s)", FormatDuration(d), allowed)
}

// dsnKey is a secret connection string.
func dsnKey(key, doc, allowed string, p func(c *Config) *string) keyDef {
	k := strKey(key, doc, allowed, p, nil)
	k.secret = true
	return k
}

func boolKey(key string, doc string, p func(c *Config) *bool) keyDef {
	return keyDef{key: key, kind: kBool, def: false, allowed: "true, false", doc: doc,
		get: func(c *Config) any { return *p(c) },
		set: func(c *Config, v any) { *p(c) = v.(bool) }}
}

var (
	positive = durRule{min: 0, minExcl: true}
)

// keys is every config key, in display order.
var keys = []keyDef{
	func() keyDef {
		k := strKey("dsn", "PostgreSQL connection string, as a URL (postgres://user:password@host:5432/db) "+
			"or keyword/value (host=h user=u password=p dbname=db); several hosts with target_session_attrs=read-write "+
			"follow a failover. Empty runs on the embedded demo store. The password is never shown.", "a PostgreSQL URL or keyword/value string; empty for the embedded demo",
			func(c *Config) *string { return &c.DSN }, nil)
		k.secret = true
		return k
	}(),
	strKey("operator", "Who is at the keyboard, recorded with every mutation. Empty: taken from SUDO_USER, then USER.",
		"any name of up to 128 characters without control characters or bidi marks", func(c *Config) *string { return &c.Operator },
		func(c *Config) string {
			if router.CheckName("operator", c.Operator) != nil {
				return fmt.Sprintf("%q contains control characters, bidi marks or invalid UTF-8, or is too long "+
					"(allowed: any name of up to %d characters without control characters or bidi marks)", c.Operator, router.MaxIDLen)
			}
			return ""
		}),

	enumKey("log.level", "info", "Least severe log level written.", []string{"debug", "info", "warn", "error"},
		func(c *Config) *string { return &c.Log.Level }),
	enumKey("log.format", "text", "Log format: text (human) or json (one object per line).", []string{"text", "json"},
		func(c *Config) *string { return &c.Log.Format }),
	strKey("log.file", "Write logs to this file instead of standard error. Empty: standard error.", "a file path; empty for standard error",
		func(c *Config) *string { return &c.Log.File }, nil),

	durKey("db.connect_timeout", 10*time.Second, durRule{min: 0, minExcl: true, max: 5 * time.Minute},
		"How long to wait for a database connection before giving up.",
		func(c *Config) *time.Duration { return &c.DB.ConnectTimeout }),
	durKey("db.statement_timeout", 30*time.Second, positive,
		"statement_timeout of every session (of every transaction under db.pooler transaction), so no statement runs forever.",
		func(c *Config) *time.Duration { return &c.DB.StatementTimeout }),
	durKey("db.lock_timeout", 5*time.Second, positive,
		"lock_timeout of every session (of every transaction under db.pooler transaction), so no one is left hanging behind a lock.",
		func(c *Config) *time.Duration { return &c.DB.LockTimeout }),
	intKey("db.max_conns", 8, 1, 256, "Most connections in the pool.",
		func(c *Config) *int { return &c.DB.MaxConns }),
	enumKey("db.pooler", "none", "What sits between routeops and PostgreSQL: none; session (PgBouncer session pooling: "+
		"settings are SET after connecting); transaction (PgBouncer transaction pooling: the simple protocol, no prepared statements, "+
		"settings SET LOCAL in every transaction, wake-ups and migrate through db.listen_dsn).",
		[]string{"none", "session", "transaction"}, func(c *Config) *string { return &c.DB.Pooler }),
	dsnKey("db.listen_dsn", "Connection for what needs a session of its own: the engine's LISTEN for wake-ups, "+
		"and migrate's lock under transaction pooling. PostgreSQL itself or a session pool. Empty: dsn, "+
		"except under db.pooler transaction, where the engine then polls. The password is never shown.",
		"a PostgreSQL URL or keyword/value string; empty for dsn",
		func(c *Config) *string { return &c.DB.ListenDSN }),
	dsnKey("db.read_dsn", "A hot standby for every read (status, check, metrics, console, items, timeline, verify, "+
		"plans); writes and the engine use dsn. Its lag is shown and judged by health.max_replica_lag. "+
		"Empty: dsn serves reads too. The password is never shown.",
		"a PostgreSQL URL or keyword/value string; empty for dsn",
		func(c *Config) *string { return &c.DB.ReadDSN }),

	{key: "routing.on_item_fault", kind: kEnum, def: string(router.PolicyQuarantine),
		enum: policyNames(), allowed: strings.Join(policyNames(), ", "),
		doc: "What the engine does with an item that has a permanent fault (missing or corrupt revision, unknown queue): " +
			"quarantine moves it out of the head path; skip leaves it queued and flagged and routes past it; " +
			"block is the legacy behaviour (the queue waits), for drills and comparisons.",
		get: func(c *Config) any { return string(c.Routing.OnItemFault) },
		set: func(c *Config, v any) { c.Routing.OnItemFault = router.FaultPolicy(v.(string)) },
		check: func(c *Config) string {
			if _, err := router.ParseFaultPolicy(string(c.Routing.OnItemFault)); err != nil {
				return notAllowed(string(c.Routing.OnItemFault), strings.Join(policyNames(), ", "))
			}
			return ""
		}},
	intKey("routing.batch_size", router.DefaultBatchSize, 1, 10000, "Most items claimed per queue per transaction.",
		func(c *Config) *int { return &c.Routing.BatchSize }),
	intKey("routing.workers", 4, 1, 256, "How many orgs are routed at once.",
		func(c *Config) *int { return &c.Routing.Workers }),
	durKey("routing.poll_interval", time.Second, durRule{min: 10 * time.Millisecond},
		"How often every org is looked at even without a notification.",
		func(c *Config) *time.Duration { return &c.Routing.PollInterval }),
	durKey("routing.heartbeat_interval", 2*time.Second, durRule{min: 100 * time.Millisecond},
		"How often the engine writes its heartbeat.",
		func(c *Config) *time.Duration { return &c.Routing.HeartbeatInterval }),
	durKey("routing.backoff_min", 100*time.Millisecond, positive,
		"Shortest backoff of an org after a transient error (database error, timeout); other orgs keep routing.",
		func(c *Config) *time.Duration { return &c.Routing.BackoffMin }),
	func() keyDef {
		k := durKey("routing.backoff_max", 10*time.Second, positive,
			"Longest backoff of an org after repeated transient errors; at least routing.backoff_min.",
			func(c *Config) *time.Duration { return &c.Routing.BackoffMax })
		k.allowed = "a duration >= routing.backoff_min"
		k.check = func(c *Config) string {
			if c.Routing.BackoffMax < c.Routing.BackoffMin {
				return fmt.Sprintf("%q must be at least routing.backoff_min (%s)",
					FormatDuration(c.Routing.BackoffMax), FormatDuration(c.Routing.BackoffMin))
			}
			return ""
		}
		return k
	}(),

	durKey("health.stall_after", 60*time.Second, durRule{min: time.Second},
		"A queue with dispatchable work and free capacity that makes no progress for this long is stalled.",
		func(c *Config) *time.Duration { return &c.Health.StallAfter }),
	durKey("health.warn_head_age", 5*time.Minute, positive,
		"A head item older than this makes its queue a warning.",
		func(c *Config) *time.Duration { return &c.Health.WarnHeadAge }),
	func() keyDef {
		k := durKey("health.heartbeat_timeout", 15*time.Second, positive,
			"An engine whose heartbeat is older than this is down (cause engine_down); must be longer than routing.heartbeat_interval.",
			func(c *Config) *time.Duration { return &c.Health.HeartbeatTimeout })
		k.allowed = "a duration > routing.heartbeat_interval"
		k.check = func(c *Config) string {
			if c.Health.HeartbeatTimeout <= c.Routing.HeartbeatInterval {
				return fmt.Sprintf("%q must be longer than routing.heartbeat_interval (%s)",
					FormatDuration(c.Health.HeartbeatTimeout), FormatDuration(c.Routing.HeartbeatInterval))
			}
			return ""
		}
		return k
	}(),
	intKey("health.quarantine_warn", 1, 0, math.MaxInt64,
		"This many quarantined items or more make a warning; 0 disables the warning.",
		func(c *Config) *int { return &c.Health.QuarantineWarn }),
	durKey("health.interval", time.Second, durRule{min: 100 * time.Millisecond},
		"How often the health monitor takes a snapshot; a slow snapshot (a large fleet) spaces out the next, so that observing takes at most a fifth of the time, but by no more than half of health.stall_after.",
		func(c *Config) *time.Duration { return &c.Health.Interval }),
	durKey("health.max_replica_lag", 30*time.Second, positive,
		"Reads from a replica (or a standby) further behind than this make health a warning, and check exit 1.",
		func(c *Config) *time.Duration { return &c.Health.MaxReplicaLag }),

	boolKey("console.read_only", "Refuse every mutation (also --read-only).",
		func(c *Config) *bool { return &c.Console.ReadOnly }),
	func() keyDef {
		k := durKey("console.refresh", 0, durRule{min: 100 * time.Millisecond},
			"How often the console redraws. 0 means auto: 1s on the demo, 2s on a database.",
			func(c *Config) *time.Duration { return &c.Console.Refresh })
		k.allowed = "0 (auto) or a duration >= 100ms"
		k.check = func(c *Config) string {
			if d := c.Console.Refresh; d != 0 && d < 100*time.Millisecond {
				return outOfRange(d, k.allowed)
			}
			return ""
		}
		return k
	}(),
	enumKey("console.color", "auto", "Colour in the console and tables: auto (colour when writing to a terminal), always or never.",
		[]string{"auto", "always", "never"}, func(c *Config) *string { return &c.Console.Color }),

	boolKey("drill.allow", "Allow `drill inject` on this database. The embedded demo store always allows drills.",
		func(c *Config) *bool { return &c.Drill.Allow }),

	intKey("cleanup.batch_size", 1000, 1, 100000, "Revisions deleted per batch by cleanup apply.",
		func(c *Config) *int { return &c.Cleanup.BatchSize }),
	durKey("cleanup.pause", 100*time.Millisecond, durRule{min: 0},
		"Pause between cleanup batches, so routing keeps its pace.",
		func(c *Config) *time.Duration { return &c.Cleanup.Pause }),
	intKey("cleanup.max_rows", 100000, 1, math.MaxInt64, "Most revisions one cleanup apply deletes.",
		func(c *Config) *int { return &c.Cleanup.MaxRows }),

	intKey("repair.default_priority", 50, 0, 100,
		"Priority used when repair rebuilds attributes from defaults (only with --allow-defaults).",
		func(c *Config) *int { return &c.Repair.DefaultPriority }),
	enumKey("repair.default_channel", "chat",
		"Channel used when repair rebuilds attributes from defaults (only with --allow-defaults).",
		[]string{"chat", "email", "sms", "voice"}, func(c *Config) *string { return &c.Repair.DefaultChannel }),

	strKey("metrics.addr", "Address for the Prometheus /metrics endpoint of serve, as host:port (e.g. :9090). Empty: no endpoint.",
		"host:port (e.g. :9090, 127.0.0.1:9090); empty for none",
		func(c *Config) *string { return &c.Metrics.Addr },
		func(c *Config) string {
			if c.Metrics.Addr == "" {
				return ""
			}
			if !validHostPort(c.Metrics.Addr) {
				return fmt.Sprintf("%q is not host:port (e.g. :9090, 127.0.0.1:9090)", c.Metrics.Addr)
			}
			return ""
		}),

	enumKey("metrics.per_queue", "unhealthy",
		"Which queues get series of their own in /metrics: unhealthy (queues that are not ok, other than only behind; queues holding quarantined items; "+
			"queues whose oldest item waited past health.warn_head_age with nothing assigned in five minutes; at most 1,500 of them, the most severe first) "+
			"or all (every queue, as many series as queues times ten). Fleet totals are always exported.",
		[]string{"unhealthy", "all"}, func(c *Config) *string { return &c.Metrics.PerQueue }),

	intKey("demo.orgs", 20, 1, 5000, "Organisations in the embedded demo.",
		func(c *Config) *int { return &c.Demo.Orgs }),
	{key: "demo.seed", kind: kInt, def: int64(1), allowed: "any integer",
		doc: "Random seed of the demo simulation; the same seed gives the same demo.",
		get: func(c *Config) any { return c.Demo.Seed },
		set: func(c *Config, v any) { c.Demo.Seed = v.(int64) }},
	{key: "demo.rate", kind: kFloat, def: 1.5, allowed: "a number > 0 and <= 1000",
		doc: "Average conversation arrivals per second per org in the demo.",
		get: func(c *Config) any { return c.Demo.Rate },
		set: func(c *Config, v any) { c.Demo.Rate = v.(float64) },
		check: func(c *Config) string {
			if r := c.Demo.Rate; !(r > 0 && r <= 1000) {
				return fmt.Sprintf("%s is out of range (allowed: a number > 0 and <= 1000)", strconv.FormatFloat(r, 'g', -1, 64))
			}
			return ""
		}},
}

// keyIndex maps a key to its definition.
var keyIndex = func() map[string]*keyDef {
	m := make(map[string]*keyDef, len(keys))
	for i := range keys {
		m[keys[i].key] = &keys[i]
	}
	return m
}()

// sections are the key prefixes that hold keys ("log", "routing", ...).
var sections = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		parts := strings.Split(k.key, ".")
		for i := 1; i < len(parts); i++ {
			m[strings.Join(parts[:i], ".")] = true
		}
	}
	return m
}()

func policyNames() []string {
	out := make([]string, len(router.FaultPolicies))
	for i, p := range router.FaultPolicies {
		out[i] = string(p)
	}
	return out
}

// EnvName is the environment variable for a config key:
// routing.on_item_fault -> ROUTEOPS_ROUTING_ON_ITEM_FAULT.
func EnvName(key string) string {
	return "ROUTEOPS_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func validHostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535 && strings.TrimLeft(port, "0123456789") == ""
}

// FormatDuration prints a duration the short way: 1m instead of 1m0s, 1h
// instead of 1h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// DefaultFlagKeys maps the global and command flags that routeops defines
// to the config keys that they override. LoadOptions.FlagKeys defaults to it.
func DefaultFlagKeys() map[string]string {
	return map[string]string{
		"dsn":           "dsn",
		"listen-dsn":    "db.listen_dsn",
		"read-dsn":      "db.read_dsn",
		"pooler":        "db.pooler",
		"operator":      "operator",
		"log-file":      "log.file",
		"log-level":     "log.level",
		"log-format":    "log.format",
		"on-item-fault": "routing.on_item_fault",
		"workers":       "routing.workers",
		"batch-size":    "routing.batch_size",
		"read-only":     "console.read_only",
		"refresh":       "console.refresh",
		"color":         "console.color",
		"stall-after":   "health.stall_after",
		"metrics-addr":  "metrics.addr",
		"max-rows":      "cleanup.max_rows",
		"batch":         "cleanup.batch_size",
		"pause":         "cleanup.pause",
		"allow-drill":   "drill.allow",
	}
}

// KeyDoc documents one config key, for the README's configuration table and
// `routeops config`.
type KeyDoc struct {
	// Key is the dotted key as written in the file, e.g. "routing.on_item_fault".
	Key string
	// Type is one of string, enum, int, float, bool, duration. Durations use
	// Go syntax (30s, 5m, 1h30m); a bare number is not a duration.
	Type string
	// Default is the default as it would be written in the file ("" is
	// written as `""`).
	Default string
	// Allowed describes the allowed values.
	Allowed string
	// Env is the environment variable, e.g. ROUTEOPS_ROUTING_ON_ITEM_FAULT.
	Env string
	// Flag is the command-line flag in DefaultFlagKeys ("--on-item-fault"),
	// or "" when there is none.
	Flag string
	// Doc says what the key does.
	Doc string
}

// Reference documents every config key, in display order.
func Reference() []KeyDoc {
	flags := map[string]string{}
	for f, k := range DefaultFlagKeys() {
		flags[k] = "--" + f
	}
	out := make([]KeyDoc, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyDoc{
			Key:     k.key,
			Type:    k.kind.String(),
			Default: formatDefault(k.def),
			Allowed: k.allowed,
			Env:     EnvName(k.key),
			Flag:    flags[k.key],
			Doc:     k.doc,
		})
	}
	return out
}

func formatDefault(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return `""`
		}
		return v
	case time.Duration:
		return FormatDuration(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
