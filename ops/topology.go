package ops

import (
	"fmt"
	"time"

	"github.com/routeops/routeops/ops/internal/text"
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
				text.Duration(src.ReplicaLag), limitText(limit))
		}
	}
	return d
}

func limitText(d time.Duration) string {
	if d < time.Second {
		return d.String()
	}
	return text.Duration(d)
}
