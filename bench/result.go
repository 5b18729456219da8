package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
)

// Result is what one scenario measured. It marshals to one flat JSON
// object: "scenario", then the scenario's figures in the order they were
// set, then "items", "seconds", the targets and the machine context.
type Result struct {
	Scenario string
	// Items is how many items (or, for cleanup, revisions) the measured
	// phase worked on.
	Items int
	// Seconds is the wall-clock time of the measured phase; TotalSeconds
	// that of the whole scenario, setup included.
	Seconds      float64
	TotalSeconds float64
	Scale        float64
	// FullScale is set when the run had the full sizes (scale 1, no
	// overrides); only then are the targets judged.
	FullScale bool
	Targets   []Target
	Notes     []string
	Machine   Machine
	// Statements are the server's most expensive statements during the
	// measured phase (pg_stat_statements), when asked for.
	Statements []Statement
	Err        string

	figures []field
}

type field struct {
	name  string
	value any
}

// Target is the goal for one figure.
type Target struct {
	Figure string
	Op     string // ">=", "<=", "=="
	Value  float64
	// Sum names more figures added to Figure before comparing.
	Sum []string
}

func (t Target) String() string {
	name := strings.Join(append([]string{t.Figure}, t.Sum...), " + ")
	return fmt.Sprintf("%s %s %s", name, t.Op, trimFloat(t.Value))
}

// Statement is one row of pg_stat_statements.
type Statement struct {
	Query   string  `json:"query"`
	Calls   int64   `json:"calls"`
	TotalMS float64 `json:"total_ms"`
	MeanMS  float64 `json:"mean_ms"`
	Rows    int64   `json:"rows"`
}

// Machine is the context every figure was taken in.
type Machine struct {
	NProc             int     `json:"nproc"`
	GOMAXPROCS        int     `json:"gomaxprocs"`
	MemTotalMB        int     `json:"mem_total_mb"`
	LoadAvg1m         float64 `json:"load_avg_1m"`
	GoVersion         string  `json:"go_version"`
	PGVersion         string  `json:"postgres_version"`
	Fsync             string  `json:"fsync"`
	SynchronousCommit string  `json:"synchronous_commit"`
	FullPageWrites    string  `json:"full_page_writes"`
	SharedBuffers     string  `json:"shared_buffers"`
	MaxWALSize        string  `json:"max_wal_size"`
	CheckpointTimeout string  `json:"checkpoint_timeout"`
}

// Set records a figure; setting it again replaces the value in place.
func (r *Result) Set(name string, v any) {
	if f, ok := v.(float64); ok {
		v = round(f)
	}
	for i := range r.figures {
		if r.figures[i].name == name {
			r.figures[i].value = v
			return
		}
	}
	r.figures = append(r.figures, field{name, v})
}

// Get returns a figure.
func (r *Result) Get(name string) (any, bool) {
	for _, f := range r.figures {
		if f.name == name {
			return f.value, true
		}
	}
	return nil, false
}

// Note adds a remark.
func (r *Result) Note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// number returns a figure as a float64 when it is a number.
func (r *Result) number(name string) (float64, bool) {
	v, ok := r.Get(name)
	if !ok || v == nil {
		return 0, false
	}
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// TargetMet judges the targets: nil when there are none, when a figure is
// missing, or when the run was not at the full sizes.
func (r *Result) TargetMet() *bool {
	if len(r.Targets) == 0 || r.Err != "" || !r.FullScale {
		return nil
	}
	met := true
	for _, t := range r.Targets {
		v, ok := r.number(t.Figure)
		if !ok {
			return nil
		}
		for _, s := range t.Sum {
			w, ok := r.number(s)
			if !ok {
				return nil
			}
			v += w
		}
		switch t.Op {
		case ">=":
			met = met && v >= t.Value
		case "<=":
			met = met && v <= t.Value
		case "==":
			met = met && v == t.Value
		}
	}
	return &met
}

// MarshalJSON writes the flat object.
func (r *Result) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	put := func(k string, v any) error {
		vb, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
		return nil
	}
	if err := put("scenario", r.Scenario); err != nil {
		return nil, err
	}
	for _, f := range r.figures {
		if err := put(f.name, f.value); err != nil {
			return nil, err
		}
	}
	targets := map[string]string{}
	for _, t := range r.Targets {
		targets[t.Figure] = strings.TrimPrefix(t.String(), t.Figure+" ")
	}
	notes := r.Notes
	if notes == nil {
		notes = []string{}
	}
	rest := []field{
		{"items", r.Items}, {"seconds", round(r.Seconds)}, {"total_seconds", round(r.TotalSeconds)},
		{"scale", r.Scale}, {"full_scale", r.FullScale}, {"targets", targets}, {"target_met", r.TargetMet()}, {"notes", notes},
	}
	if r.Statements != nil {
		rest = append(rest, field{"server_statements", r.Statements})
	}
	if r.Err != "" {
		rest = append(rest, field{"error", r.Err})
	}
	for _, f := range rest {
		if err := put(f.name, f.value); err != nil {
			return nil, err
		}
	}
	// The machine context, flat.
	mb, err := json.Marshal(r.Machine)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := put(k, m[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// WriteJSON writes one result as one line.
func WriteJSON(w io.Writer, r *Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// WriteTable writes one result as a readable block.
func WriteTable(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	verdict := "no target"
	if m := r.TargetMet(); m != nil {
		verdict = map[bool]string{true: "target MET", false: "target MISSED"}[*m]
	} else if len(r.Targets) > 0 {
		verdict = "target not judged"
		if !r.FullScale {
			verdict += fmt.Sprintf(" (not full size: scale %s or overrides)", trimFloat(r.Scale))
		}
	}
	fmt.Fprintf(tw, "== %s\t%s\n", r.Scenario, verdict)
	if r.Err != "" {
		fmt.Fprintf(tw, "  error\t%s\n", r.Err)
	}
	targets := map[string]string{}
	for _, t := range r.Targets {
		targets[t.Figure] = "target " + strings.TrimPrefix(t.String(), t.Figure+" ")
	}
	for _, f := range r.figures {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.name, render(f.value), targets[f.name])
	}
	fmt.Fprintf(tw, "  items\t%d\t\n", r.Items)
	fmt.Fprintf(tw, "  seconds\t%s\t(measured phase; %ss in all)\n", trimFloat(round(r.Seconds)), trimFloat(round(r.TotalSeconds)))
	if err := tw.Flush(); err != nil {
		return err
	}
	m := r.Machine
	fmt.Fprintf(w, "  machine: nproc %d, load %.2f, PostgreSQL %s, fsync %s, synchronous_commit %s, shared_buffers %s\n",
		m.NProc, m.LoadAvg1m, m.PGVersion, m.Fsync, m.SynchronousCommit, m.SharedBuffers)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if len(r.Statements) > 0 {
		fmt.Fprintln(w, "  server time by statement (pg_stat_statements, measured phase):")
	}
	for _, s := range r.Statements {
		fmt.Fprintf(w, "  %10.1f ms %8d calls  %s\n", s.TotalMS, s.Calls, s.Query)
	}
	_, err := fmt.Fprintln(w)
	return err
}

func render(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case float64:
		return trimFloat(x)
	case string:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.3f", f)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// round keeps three decimals: figures are noisy well before that.
func round(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Round(f*1000) / 1000
}
