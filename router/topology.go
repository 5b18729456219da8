package router

import (
	"errors"
	"time"
)

// SnapshotSource says where a store read a snapshot: the server that
// writes go to, whether reads came from a replica, and whether the server
// read was a standby and how far behind. Stores on a database server fill
// it; the embedded store leaves it nil.
type SnapshotSource struct {
	// Store names the server that writes go to, as actually connected.
	Store string
	// Reads names the read replica when reads are split from writes.
	Reads     string
	ReadSplit bool
	// Pooler is what sits in front of the database: none, session or
	// transaction.
	Pooler string
	// InRecovery: the server the snapshot was read from is a standby.
	InRecovery bool
	// ReplicaLag is how far a standby's replay is behind (0 on a primary,
	// and on a standby that has replayed all it received).
	ReplicaLag time.Duration
}

// ErrNoWakeups is returned by Notifications when the store cannot offer
// wake-ups at all in its configuration (a transaction pool without a
// session connection to LISTEN on). Engines then poll, and say so.
var ErrNoWakeups = errors.New("wake-ups unavailable")
