package ops

import (
	"fmt"
	"time"

	"github.com/routeops/routeops/router"
)

// DefaultMaxReplicaLag is health.max_replica_lag's default.
const DefaultMaxReplicaLag = 30 * time.Second

// DatabaseState says where a snapshot was read and what that means for
// the operator: the server that writes go to (as actually connected), the
// read replica, the pooler, whether the server read was a standby and how
// far behind it is.
type DatabaseState struct {
	// Store is the server that writes go to, as connected (a multi-host
	// DSN names several; this is the one that answered).
	Store string `json:"store"`
	// Reads is the read replica (db.read_dsn), when reads are split.
	Reads  string `json:"reads,omitempty"`
	Pooler string `json:"pooler"`
	// Standby: the snapshot was read from a server in recovery.
	Standby bool `json:"standby"`
	// Viewer: connected to a standby without a read split, so this process
	// only watches: no engine, no changes, no stall events recorded.
	Viewer bool `json:"viewer"`
	// ReplicaLagSeconds is how far the standby read is behind (0 once it
	// has replayed all it received); absent when reads come from the
	// primary.
	ReplicaLagSeconds *float64 `json:"replica_lag_seconds,omitempty"`
	Health            Health   `json:"health"`
	Reason            string   `json:"reason,omitempty"`
}

// evaluateDatabase applies the replica-lag rule: reads more than
// MaxReplicaLag behind make the fleet's health a warning, since every
// number shown may be that old.
func evaluateDatabase(src *router.SnapshotSource, s Settings) *DatabaseState {
	if src == nil {
		return nil
	}
	d := &DatabaseState{Store: src.Store, Reads: src.Reads, Pooler: src.Pooler, Standby: src.InRecovery,
		Viewer: src.InRecovery && !src.ReadSplit, Health: HealthOK}
	if src.InRecovery || src.ReadSplit {
		lag := round1(src.ReplicaLag.Seconds())
		d.ReplicaLagSeconds = &lag
		limit := s.MaxReplicaLag
		if limit <= 0 {
			limit = DefaultMaxReplicaLag
		}
		if src.ReplicaLag > limit {
			d.Health = HealthWarning
			d.Reason = fmt.Sprintf("the replica is %s behind (more than health.max_replica_lag, %s): every figure may be that old",
				lagText(lag), limitText(limit))
		}
	}
	return d
}

// Badge is the console's word for how it is connected: STANDBY when it
// only watches a standby, REPLICA when reads come from one, else "".
func (d *DatabaseState) Badge() string {
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

// TopologyNotes are the lines that status prints under its header and the
// console shows in its header: reads from a replica and its lag, a
// standby watched read-only, engines without wake-ups.
func TopologyNotes(s *Snapshot) []string {
	var out []string
	if d := s.Database; d != nil {
		lag := ""
		if d.ReplicaLagSeconds != nil {
			lag = fmt.Sprintf("replica lag %s", lagText(*d.ReplicaLagSeconds))
		}
		switch {
		case d.Viewer:
			out = append(out, "connected to a standby (in recovery), "+lag+": watching only; the engine, changes and "+
				"stall events need the primary")
		case d.Reads != "":
			out = append(out, "reads from the replica "+d.Reads+", "+lag)
		}
		if d.Reason != "" {
			out = append(out, "WARNING: "+d.Reason)
		}
	}
	if n := s.Engine.Polling; n > 0 {
		out = append(out, fmt.Sprintf("wake-ups off on %d of %d engines: they find new work only by polling "+
			"(under transaction pooling set db.listen_dsn)", n, s.Engine.Engines))
	}
	return out
}

func limitText(d time.Duration) string {
	if d < time.Second {
		return d.String()
	}
	return shortDur(d)
}

// lagText renders a replica lag: "0s" when caught up, else to a tenth of
// a second below a minute.
func lagText(secs float64) string {
	if secs < 60 {
		return fmt.Sprintf("%.1fs", secs)
	}
	return shortDur(time.Duration(secs * float64(time.Second)))
}

// Badges are the short words that the console's header shows for the
// topology: STANDBY (watching a standby) or REPLICA (reads from one) with
// the lag, and POLLING when some engine has no wake-ups.
func Badges(s *Snapshot) []string {
	if s == nil {
		return nil
	}
	var out []string
	if d := s.Database; d != nil {
		if b := d.Badge(); b != "" {
			if d.ReplicaLagSeconds != nil {
				b += " lag " + lagText(*d.ReplicaLagSeconds)
			}
			if d.Health != HealthOK {
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
