// Command routeops is a terminal operations console and in-process routing
// engine for multi-tenant customer-support queues on PostgreSQL. This
// package is wiring only: config -> store -> engine and monitor -> console
// or command.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/routeops/routeops/config"
	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/redact"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
)

// version is set with -ldflags "-X main.version=..."; otherwise the module
// build info is used.
var version = ""

// Exit codes: 0 success; 1 usage or configuration error; 2 a refused or
// failed operation. check uses 0 ok, 1 warning, 2 critical, 3 unknown.
const (
	exitOK      = 0
	exitUsage   = 1
	exitFailed  = 2
	exitUnknown = 3
)

// exitError carries an exit code with an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func failed(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: exitFailed, err: err}
}

// silent exits with a code without printing anything more.
func silent(code int) error { return &exitError{code: code} }

func main() {
	tuneGC(commandName(os.Args[1:]))
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// commandName is the name of the command args run ("" when they name none).
func commandName(args []string) string {
	a := &app{env: os.LookupEnv, logClose: func() {}}
	cmd, _, err := a.rootCmd().Find(args)
	if err != nil || cmd == nil {
		return ""
	}
	return cmd.Name()
}

// Soft memory limits (debug.SetMemoryLimit). The Go runtime collects
// harder as the process nears its limit, so the limit, not the live heap,
// sets the peak RSS of a process that allocates a whole-fleet snapshot:
// with GOGC 200 alone the heap grows to three times what is live. The
// resident set is the limit plus about 10-15 MB the limit does not count
// (the binary's pages, mostly).
const (
	// status and check build one snapshot and exit: at 50,000 orgs about
	// 100 MiB is live at the peak, so the limit sits just above it (a
	// larger fleet still works: it collects more often).
	oneShotMemLimit = 128 << 20
	// serve and the console hold the last snapshot while they build the
	// next (about 150 MiB live at the peak at 50,000 orgs); the limit keeps
	// them under 200 MB resident without collecting on every allocation.
	watchMemLimit = 160 << 20
	// everything else (seed, bench, cleanup, ...).
	defaultMemLimit = 256 << 20
)

// tuneGC: routeops keeps a small live heap but builds a whole-fleet
// snapshot every second or two, so it collects less often than Go's
// default (GOGC 200), with a soft memory limit per command (above) so that
// it stays small. GOGC and GOMEMLIMIT still win when set.
func tuneGC(command string) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memLimit(command))
	}
}

func memLimit(command string) int64 {
	switch command {
	case "status", "check":
		return oneShotMemLimit
	case "serve", "console":
		return watchMemLimit
	}
	return defaultMemLimit
}

// app holds what every command shares.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	cfg            *config.Config
	log            *slog.Logger
	logClose       func()
	flags          globalFlags
	// tty is true when both stdin and stdout are terminals.
	tty bool
	// env is injectable for tests.
	env func(string) (string, bool)
	// act is who is acting, resolved and checked once the config is loaded.
	act router.Actor
}

type globalFlags struct {
	dsn, configFile, output, operator, logFile, logLevel, color string
	listenDSN, readDSN                                          string
	readOnly, yes                                               bool
}

// run executes routeops with args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: os.LookupEnv, logClose: func() {}}
	a.tty = isTerminal(stdin) && isTerminal(stdout)
	defer func() {
		// A crash message must never carry a secret either.
		if r := recover(); r != nil {
			msg := fmt.Sprintf("routeops crashed: %v\n%s", r, debug.Stack())
			msg = a.redact(msg)
			fmt.Fprintln(stderr, present.Text(msg))
			code = exitFailed
		}
	}()
	defer func() { a.logClose() }()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "routeops: "+present.Line(a.redact(ee.err.Error())))
		}
		return ee.code
	}
	// cobra's own errors: unknown commands and flags, bad arguments.
	fmt.Fprintln(stderr, "routeops: "+present.Line(a.redact(err.Error())))
	fmt.Fprintln(stderr, "Run 'routeops --help' for usage.")
	return exitUsage
}

func isTerminal(f any) bool {
	if fd, ok := f.(interface{ Fd() uintptr }); ok {
		return term.IsTerminal(fd.Fd())
	}
	return false
}

// redact removes every DSN's password from any text: the configured
// ones, and those of the environment and flags (for errors before the
// configuration is loaded).
func (a *app) redact(s string) string {
	if a.cfg != nil {
		s = a.cfg.Scrub(s)
	}
	for _, key := range []string{"dsn", "db.listen_dsn", "db.read_dsn"} {
		if v, ok := a.env(config.EnvName(key)); ok {
			s = redact.Text(s, v)
		}
	}
	for _, v := range []string{a.flags.dsn, a.flags.listenDSN, a.flags.readDSN} {
		if v != "" {
			s = redact.Text(s, v)
		}
	}
	return s
}

// redactErr is err with the DSN's password removed from its text.
func (a *app) redactErr(err error) error { return errors.New(a.redact(err.Error())) }

// opsErr renders an error from ops for the operator: a request ops
// refused before doing anything (a missing reason, a bad count) is a
// usage error (exit 1); anything else is a refused or failed operation
// (exit 2). The text is present's explanation, with the DSN redacted.
func (a *app) opsErr(err error) error {
	if err == nil {
		return nil
	}
	var re *ops.RequestError
	if errors.As(err, &re) {
		return usageErr("%s", present.Error(err))
	}
	return failed(errors.New(present.Error(a.redactErr(err))))
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "routeops",
		Short: "Operations console and routing engine for multi-tenant support queues on PostgreSQL",
		Long: `routeops shows every organisation's queues live, finds a queue whose head item is
stuck and says why, and lets you quarantine the bad item or repair the records it
references. It runs its routing engine in process, and as scripts and monitors
without a terminal.

With no DSN configured it runs on the embedded demo store.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Bare routeops: the console on a terminal, status otherwise.
			if a.tty {
				return a.runConsole(cmd, consoleOpts{})
			}
			return a.runStatus(cmd, statusOpts{output: a.flags.output})
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.flags.dsn, "dsn", "", "PostgreSQL DSN; empty: the embedded demo. Prefer ROUTEOPS_DSN, and keep the password out of it: in a 0600 PGPASSFILE (~/.pgpass) or PGPASSWORD")
	pf.StringVar(&a.flags.readDSN, "read-dsn", "", "a hot standby for every read (db.read_dsn); writes and the engine use --dsn")
	pf.StringVar(&a.flags.listenDSN, "listen-dsn", "", "PostgreSQL or a session pool for LISTEN and migrate (db.listen_dsn)")
	pf.String("pooler", "", "what is in front of PostgreSQL: none, session, transaction (db.pooler)")
	pf.String("log-format", "", "log format: text or json (log.format)")
	pf.StringVar(&a.flags.configFile, "config", "", "config file (YAML, TOML or JSON); default ./routeops.yaml or ~/.config/routeops/config.yaml")
	pf.StringVarP(&a.flags.output, "output", "o", "", "output format: table or json (some commands: markdown)")
	pf.StringVar(&a.flags.operator, "operator", "", "your name, recorded with every change (default SUDO_USER or USER)")
	pf.BoolVar(&a.flags.readOnly, "read-only", false, "refuse every change (also console.read_only)")
	pf.BoolVarP(&a.flags.yes, "yes", "y", false, "do it without asking (needed for changes without a terminal)")
	pf.StringVar(&a.flags.logFile, "log-file", "", "write logs to this file instead of standard error")
	pf.StringVar(&a.flags.logLevel, "log-level", "", "log level: debug, info, warn, error")
	pf.StringVar(&a.flags.color, "color", "", "console colour: auto, always, never (NO_COLOR is honoured)")
	root.Version = versionText()
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if cmd.Name() == "version" || cmd.Name() == "help" {
			return nil
		}
		return a.loadConfig(cmd)
	}
	root.AddCommand(
		a.versionCmd(), a.configCmd(), a.migrateCmd(), a.seedCmd(), a.serveCmd(), a.statusCmd(), a.checkCmd(),
		a.demoCmd(), a.consoleCmd(), a.itemsCmd(), a.quarantineCmd(), a.releaseCmd(), a.pauseCmd(true),
		a.pauseCmd(false), a.repairCmd(), a.cleanupCmd(), a.verifyCmd(), a.drillCmd(), a.timelineCmd(), a.benchCmd(),
		a.teamsCmd(), a.teamCmd(), a.agentsCmd(), a.agentCmd(), a.impactCmd(),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageErr("%v", err) })
	return root
}

// flagKeys maps every flag that overrides a config key to that key.
var flagKeys = config.DefaultFlagKeys()

// loadConfig builds the configuration once flags are parsed. A bad value
// or a broken file exits 1 with a message that names the key.
func (a *app) loadConfig(cmd *cobra.Command) error {
	fs := pflag.NewFlagSet("all", pflag.ContinueOnError)
	fs.AddFlagSet(cmd.Flags())
	fs.AddFlagSet(cmd.InheritedFlags())
	keys := map[string]string{}
	for f, k := range flagKeys {
		if fs.Lookup(f) != nil {
			keys[f] = k
		}
	}
	cfg, warnings, err := config.Load(config.LoadOptions{File: a.flags.configFile, Env: a.env, Flags: fs, FlagKeys: keys})
	for _, w := range warnings {
		fmt.Fprintln(a.stderr, "routeops: warning: "+present.Line(w))
	}
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	a.cfg = cfg
	act, err := ops.CheckedActor(cfg.Operator, func(k string) string { v, _ := a.env(k); return v })
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	a.act = act
	if a.flags.output != "" {
		switch a.flags.output {
		case "table", "json", "markdown", "md":
		default:
			return usageErr("-o %q is not a known output format (allowed: table, json; timeline also markdown)", a.flags.output)
		}
	}
	return a.setupLog(cmd)
}

// setupLog sends logs to log.file or standard error, as text or JSON,
// scrubbing the DSN's password from every record.
func (a *app) setupLog(cmd *cobra.Command) error {
	var lvl slog.Level
	switch a.cfg.Log.Level {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	var w io.Writer = a.stderr
	if a.cfg.Log.File != "" {
		f, err := os.OpenFile(a.cfg.Log.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return usageErr("log.file: cannot open %s: %v", a.cfg.Log.File, err)
		}
		w = f
		a.logClose = func() { _ = f.Close() }
	}
	w = &redactWriter{w: w, cfg: a.cfg}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if a.cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	a.log = slog.New(h)
	return nil
}

// redactWriter scrubs every DSN's password from log output.
type redactWriter struct {
	w   io.Writer
	cfg *config.Config
}

func (r *redactWriter) Write(p []byte) (int, error) {
	s := r.cfg.Scrub(string(p))
	if s == string(p) {
		return r.w.Write(p)
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// discardLog is for the console when no log file is configured: logs must
// never reach the screen.
func (a *app) quietLog() {
	if a.cfg.Log.File == "" {
		a.log = slog.New(slog.DiscardHandler)
	}
}

// output returns the requested output format, or def.
func (a *app) output(def string) string {
	if a.flags.output != "" {
		if a.flags.output == "md" {
			return "markdown"
		}
		return a.flags.output
	}
	return def
}

// errNoDatabase is a command that needs a database run without one.
var errNoDatabase = &exitError{code: exitUsage, err: errors.New(
	"no database configured: set --dsn or ROUTEOPS_DSN (or dsn in the config file); `routeops demo` runs without one")}

// openStore opens the configured PostgreSQL store. Commands that need a
// database call it; without a DSN they explain how to get one.
func (a *app) openStore(ctx context.Context) (*pgstore.Store, error) {
	if a.cfg.DSN == "" {
		return nil, errNoDatabase
	}
	st, err := pgstore.Open(ctx, a.pgOptions())
	if err != nil {
		return nil, failed(errors.New(a.redact(err.Error())))
	}
	return st, nil
}

func (a *app) pgOptions() pgstore.Options {
	return pgstore.Options{
		DSN: a.cfg.DSN, Pooler: a.cfg.DB.Pooler, ListenDSN: a.cfg.DB.ListenDSN, ReadDSN: a.cfg.DB.ReadDSN,
		MaxConns: int32(a.cfg.DB.MaxConns), ConnectTimeout: a.cfg.DB.ConnectTimeout,
		StatementTimeout: a.cfg.DB.StatementTimeout, LockTimeout: a.cfg.DB.LockTimeout, Logger: a.log,
	}
}

func (a *app) settings() ops.Settings {
	return ops.Settings{StallAfter: a.cfg.Health.StallAfter, WarnHeadAge: a.cfg.Health.WarnHeadAge,
		HeartbeatTimeout: a.cfg.Health.HeartbeatTimeout, QuarantineWarn: a.cfg.Health.QuarantineWarn,
		MaxReplicaLag: a.cfg.Health.MaxReplicaLag}
}

// actor is who is acting and from where, checked when the config loaded.
func (a *app) actor() router.Actor { return a.act }

// newOps builds the operator API on a store, once, with the configured
// settings and rules.
func (a *app) newOps(st router.Store) *ops.Ops { return ops.New(st, a.opsOptions()) }

// withOps runs fn with ops on the configured store, and closes the store.
func (a *app) withOps(ctx context.Context, fn func(o *ops.Ops) error) error {
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(a.newOps(st))
}

// printAction prints an action's result: the result itself with -o json,
// else its sentence.
func (a *app) printAction(res router.ActionResult, sentence string) error {
	if a.output("table") == "json" {
		return a.printJSON(res)
	}
	_, err := fmt.Fprintln(a.stdout, sentence)
	return err
}

func (a *app) opsOptions() ops.Options {
	return ops.Options{
		Clock: router.RealClock{}, Actor: a.actor(), MonitorActor: a.monitorActor(), Health: a.settings(),
		Policy:  a.policy(),
		Repair:  ops.RepairSettings{DefaultPriority: a.cfg.Repair.DefaultPriority, DefaultChannel: a.cfg.Repair.DefaultChannel},
		Cleanup: ops.CleanupSettings{BatchSize: a.cfg.Cleanup.BatchSize, Pause: a.cfg.Cleanup.Pause, MaxRows: a.cfg.Cleanup.MaxRows},
		Log:     a.log,
	}
}

// policy is the read-only switch and the drill gate from the config, for
// the configured database (the demo marks its own store embedded).
func (a *app) policy() ops.Policy {
	return ops.Policy{ReadOnly: a.cfg.Console.ReadOnly, DrillAllow: a.cfg.Drill.Allow}
}

func (a *app) monitorActor() router.Actor {
	host, _ := os.Hostname()
	act := a.actor()
	return router.Actor{Name: fmt.Sprintf("monitor:%s:%d", host, os.Getpid()), OSUser: act.OSUser, Origin: act.Origin}
}

// confirm carries out the confirmation policy that ops decides
// (ops.Policy.Confirm): read-only and the drill gate refuse; --yes runs at
// once; a terminal is asked question with y/N; anything else is refused.
func (a *app) confirm(action, question string) error {
	ask, err := a.policy().Confirm(action, a.flags.yes, a.tty)
	if err != nil || !ask {
		return a.opsErr(err)
	}
	fmt.Fprintf(a.stdout, "%s [y/N] ", question)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
		return failed(errors.New(present.Cancelled(action)))
	}
	return nil
}

// allow refuses a change that ops's policy does not allow here, without
// asking (migrate, seed and bench change nothing that is asked about).
func (a *app) allow(action string) error { return a.opsErr(a.policy().Allow(action)) }

// buildVersion is the module version from the build information, or
// the one set with -ldflags "-X main.version=...": v1.2.3 when installed
// with go install ...@v1.2.3; a pseudo-version (v0.0.0-date-revision) when
// built in a git checkout; "(devel)" when built without VCS stamping.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// vcsInfo is the VCS revision, its time and whether the tree had local
// changes, from the build information ("" when the build recorded none).
func vcsInfo() (revision, at string, modified bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", "", false
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return revision, at, modified
}

// versionText is what --version and `routeops version` print.
func versionText() string {
	v := "routeops " + buildVersion()
	rev, at, modified := vcsInfo()
	switch {
	case rev != "":
		v += " (revision " + rev
		if at != "" {
			v += ", " + at
		}
		if modified {
			v += ", with local changes"
		}
		v += ")"
	default:
		v += " (no VCS revision recorded: build in a git checkout with -buildvcs=true, or go install a tagged version)"
	}
	return v + fmt.Sprintf(", schema version %d", pgstore.LatestVersion())
}
