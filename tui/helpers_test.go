package tui

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
	"github.com/routeops/routeops/router/sim"
)

// t0 is the start of every test world: fixed, so frames are stable.
var t0 = time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)

// world is an embedded demo driven by hand: a memstore, the simulator, an
// engine and ops, all on a manual clock.
type world struct {
	clk    *router.ManualClock
	store  *memstore.Store
	sim    *sim.Simulator
	engine *router.Engine
	ops    *ops.Ops
	opt    ops.Options
}

// setReadOnly rebuilds the world's operator API in or out of read-only mode.
func (w *world) setReadOnly(ro bool) {
	w.opt.Policy.ReadOnly = ro
	w.ops = ops.New(w.store, w.opt)
}

type worldConfig struct {
	orgs       int
	seed       int64
	rate       float64
	policy     router.FaultPolicy
	stallAfter time.Duration
	readOnly   bool
}

func newWorld(t testing.TB, cfg worldConfig) *world {
	t.Helper()
	if cfg.orgs == 0 {
		cfg.orgs = 8
	}
	if cfg.rate == 0 {
		cfg.rate = 0.5
	}
	if cfg.policy == "" {
		cfg.policy = router.PolicyQuarantine
	}
	if cfg.stallAfter == 0 {
		cfg.stallAfter = 3 * time.Second
	}
	ctx := context.Background()
	w := &world{clk: router.NewManualClock(t0), store: memstore.New()}
	t.Cleanup(w.store.Close)
	w.sim = sim.New(w.store, sim.Config{Orgs: cfg.orgs, Seed: cfg.seed, Rate: cfg.rate, Clock: w.clk})
	if err := w.sim.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	w.engine = router.NewEngine(w.store, router.EngineConfig{ID: "test-engine", Policy: cfg.policy, Clock: w.clk, Workers: 1})
	s := ops.DefaultSettings()
	s.StallAfter = cfg.stallAfter
	w.opt = ops.Options{Clock: w.clk, Actor: router.Actor{Name: "alice", OSUser: "alice", Origin: "local"},
		Health: s, Policy: ops.Policy{Embedded: true, ReadOnly: cfg.readOnly}}
	w.ops = ops.New(w.store, w.opt)
	return w
}

// step advances the world by dt: the simulator's arrivals and
// completions, then (when route is set) one engine pass and a heartbeat.
func (w *world) step(t testing.TB, dt time.Duration, route bool) {
	t.Helper()
	ctx := context.Background()
	w.clk.Advance(dt)
	if err := w.sim.Step(ctx, w.clk.Now(), dt); err != nil {
		t.Fatalf("sim step: %v", err)
	}
	if route {
		w.route(t)
	}
}

// route runs one engine pass and writes a heartbeat, without moving time.
func (w *world) route(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.engine.Pass(ctx); err != nil {
		t.Fatalf("engine pass: %v", err)
	}
	if err := w.engine.Beat(ctx, false); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
}

func (w *world) options() Options {
	return Options{
		Ops:      w.ops,
		Refresh:  time.Hour, // refreshes come from r and actions, never from the wall clock
		Store:    "embedded demo",
		Engine:   EngineInfo{Running: true, Policy: w.engine.Config().Policy, Stats: w.engine.Stats},
		Operator: "alice",
		ReadOnly: w.ops.ReadOnly(),
		Color:    "never",
		Demo:     true,
		Record:   true,
		Clock:    w.clk,
	}
}

// ---- driving Update by hand ----

// press builds the key message for a key name as Bubble Tea reports it.
func press(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)
	if len(r) != 1 {
		panic("unknown key " + k)
	}
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// driver runs a model synchronously: each command is executed and its
// message fed back, until nothing is left. Tests never start the refresh
// tick (Init), so no command here waits on time.
type driver struct {
	t      testing.TB
	m      Model
	quit   bool
	frames int
}

func newDriver(t testing.TB, opts Options, w, h int) *driver {
	t.Helper()
	d := &driver{t: t, m: New(opts)}
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	// The first snapshot, as Init would fetch it.
	d.run(d.m.fetchSnapshot())
	return d
}

func (d *driver) send(msg tea.Msg) {
	d.t.Helper()
	nm, cmd := d.m.Update(msg)
	d.m = nm.(Model)
	d.run(cmd)
}

func (d *driver) keys(ks ...string) {
	d.t.Helper()
	for _, k := range ks {
		d.send(press(k))
	}
}

func (d *driver) typeText(s string) {
	d.t.Helper()
	for _, r := range s {
		if r == ' ' {
			d.send(press("space"))
			continue
		}
		d.send(press(string(r)))
	}
}

func (d *driver) run(cmd tea.Cmd) {
	d.t.Helper()
	queue := []tea.Cmd{cmd}
	for n := 0; len(queue) > 0; n++ {
		if n > 1000 {
			d.t.Fatal("driver: commands do not settle")
		}
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case tea.QuitMsg:
			d.quit = true
		default:
			nm, next := d.m.Update(msg)
			d.m = nm.(Model)
			queue = append(queue, next)
		}
	}
}

func (d *driver) view() string { return d.m.View().Content }

func (d *driver) wantView(substr string) {
	d.t.Helper()
	if v := d.view(); !strings.Contains(v, substr) {
		d.t.Fatalf("view lacks %q:\n%s", substr, v)
	}
}

func (d *driver) wantStatus(substr string) {
	d.t.Helper()
	if !strings.Contains(d.m.status, substr) {
		d.t.Fatalf("status %q lacks %q", d.m.status, substr)
	}
}

// ---- watching a teatest program ----

// probe wraps the model so a test can see its latest frame: teatest's
// output is a terminal byte stream, which the renderer diffs, so looking
// for words in it is unreliable; the frame is not.
type probe struct {
	mu    sync.Mutex
	frame string
	model Model
}

type probeModel struct {
	m Model
	p *probe
}

func (pm probeModel) Init() tea.Cmd { return pm.m.Init() }

func (pm probeModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	nm, cmd := pm.m.Update(msg)
	pm.m = nm.(Model)
	pm.p.mu.Lock()
	pm.p.frame, pm.p.model = pm.m.View().Content, pm.m
	pm.p.mu.Unlock()
	return pm, cmd
}

func (pm probeModel) View() tea.View { return pm.m.View() }

func (p *probe) get() (string, Model) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frame, p.model
}

// frameReader serves the latest frame each time it is read to the end,
// so that teatest.WaitFor can wait on frames.
type frameReader struct {
	p       *probe
	pending []byte
	served  bool
}

const frameSep = "\x00"

func (r *frameReader) Read(b []byte) (int, error) {
	if len(r.pending) == 0 {
		if r.served {
			r.served = false
			return 0, io.EOF
		}
		f, _ := r.p.get()
		r.pending, r.served = []byte(f+frameSep), true
	}
	n := copy(b, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// waitFrame waits (with teatest.WaitFor, on output, never on elapsed time
// as a proxy for progress) until the latest frame satisfies cond.
func (p *probe) waitFrame(t testing.TB, what string, cond func(frame string) bool) string {
	t.Helper()
	t.Logf("waiting for %s", what)
	var last string
	teatest.WaitFor(t, &frameReader{p: p}, func(b []byte) bool {
		frames := strings.Split(strings.TrimSuffix(string(b), frameSep), frameSep)
		last = frames[len(frames)-1]
		return cond(last)
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	return last
}

const incidentOrg = "org-0002"

// incidentWorld is a small block-policy demo that routed for 20 s, with
// five fresh items at the head of org-0002/escalations. It returns their
// ids, head first.
func incidentWorld(t testing.TB, cfg worldConfig) (*world, []int64) {
	t.Helper()
	if cfg.orgs == 0 {
		cfg.orgs, cfg.seed = 6, 11
	}
	if cfg.policy == "" {
		cfg.policy = router.PolicyBlock
	}
	w := newWorld(t, cfg)
	for range 20 {
		w.step(t, time.Second, true)
	}
	attrs := []byte(`{"priority":90,"channel":"chat","skills":["en"]}`)
	var ids []int64
	for range 5 {
		it, err := w.store.Enqueue(context.Background(), router.EnqueueRequest{OrgID: incidentOrg, QueueID: "escalations",
			Attributes: attrs, EnqueuedAt: w.clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, it.ID)
	}
	return w, ids
}

// breakHead injects the incident into org-0002 directly and lets the
// engine fail on it for five seconds, past StallAfter (3 s).
func (w *world) breakHead(t testing.TB, head int64) {
	t.Helper()
	ids, err := w.ops.Drill(context.Background(), ops.DrillMissingRevisions, incidentOrg, 1)
	if err != nil || len(ids) != 1 || ids[0] != head {
		t.Fatalf("drill hit %v (%v), want the head %d", ids, err, head)
	}
	w.stall(t)
}

func (w *world) stall(t testing.TB) {
	t.Helper()
	for range 5 {
		w.clk.Advance(time.Second)
		w.route(t)
	}
}

func (w *world) itemState(t testing.TB, id int64) router.ItemState {
	t.Helper()
	it, err := w.store.GetItem(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return it.State
}

func stalledDriver(t *testing.T, cfg worldConfig, wd, ht int) (*world, []int64, *driver) {
	t.Helper()
	ro := cfg.readOnly
	cfg.readOnly = false
	w, ids := incidentWorld(t, cfg)
	w.breakHead(t, ids[0])
	w.setReadOnly(ro)
	return w, ids, newDriver(t, w.options(), wd, ht)
}

func lines(s string) []string { return strings.Split(s, "\n") }

func openStalledOrg(t *testing.T, d *driver) {
	t.Helper()
	d.keys("enter")
	if d.m.view != viewOrg || d.m.org.name != incidentOrg {
		t.Fatalf("enter opened %v %q", d.m.view, d.m.org.name)
	}
	if q := d.m.selectedQueue(); q == nil || !q.Stalled {
		t.Fatalf("the org view should open on the stalled queue, got %+v", q)
	}
}
