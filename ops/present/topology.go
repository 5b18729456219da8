package present

import (
	"fmt"

	"github.com/routeops/routeops/ops"
)

// Badge is the console's word for how it is connected: STANDBY when it
// only watches a standby, REPLICA when reads come from one, else "".
func Badge(d *ops.DatabaseState) string {
	switch {
	case d == nil:
		return ""
	case d.Viewer:
		return "STANDBY"
	case d.Reads != "":
		return "REPLICA"
	}
	return ""
}

// Lag renders a replica lag: to a tenth of a second below a minute
// ("0.0s" when caught up), else as an age.
func Lag(secs float64) string {
	if secs < 60 {
		return fmt.Sprintf("%.1fs", secs)
	}
	return Age(secs)
}

// TopologyNotes are the lines that status prints under its header: reads
// from a replica and its lag, a standby watched read-only, the lag rule's
// warning, engines without wake-ups.
func TopologyNotes(s *ops.Snapshot) []string {
	var out []string
	if d := s.Database; d != nil {
		lag := ""
		if d.ReplicaLagSeconds != nil {
			lag = "replica lag " + Lag(*d.ReplicaLagSeconds)
		}
		switch {
		case d.Viewer:
			out = append(out, "connected to a standby (in recovery), "+lag+": watching only; the engine, changes and "+
				"stall events need the primary")
		case d.Reads != "":
			out = append(out, "reads from the replica "+Line(d.Reads)+", "+lag)
		}
		if d.Reason != "" {
			out = append(out, "WARNING: "+Line(d.Reason))
		}
	}
	if n := s.Engine.Polling; n > 0 {
		out = append(out, fmt.Sprintf("wake-ups off on %d of %d engines: they find new work only by polling "+
			"(under transaction pooling set db.listen_dsn)", n, s.Engine.Engines))
	}
	return out
}

// Badges are the short words that the console's header shows for the
// topology: STANDBY (watching a standby) or REPLICA (reads from one) with
// the lag, and POLLING when some engine has no wake-ups.
func Badges(s *ops.Snapshot) []string {
	if s == nil {
		return nil
	}
	var out []string
	if d := s.Database; d != nil {
		if b := Badge(d); b != "" {
			if d.ReplicaLagSeconds != nil {
				b += " lag " + Lag(*d.ReplicaLagSeconds)
			}
			if d.Health != ops.HealthOK {
				b += " (too far behind)"
			}
			out = append(out, b)
		}
	}
	if s.Engine.Polling > 0 {
		out = append(out, "POLLING (no wake-ups)")
	}
	return out
}

// ServeOnStandby is why serve refuses a standby, and what to do instead.
func ServeOnStandby(store string) string {
	return "serve: " + Line(store) + " is a standby (in recovery), and the engine writes: point dsn at the primary " +
		"(a multi-host DSN with target_session_attrs=read-write finds it, also after a failover), " +
		"or pass --wait-for-primary to wait until it is promoted"
}
