// Package present is the one home of every word and format that the two
// faces of routeops show: the CLI (cmd/routeops) and the console (tui).
// ops decides; present says it; the faces lay it out. Neither face writes
// a health word, a queue state, an age, a time, an outcome sentence or an
// error explanation of its own.
//
// # Untrusted text
//
// Everything read from the store is hostile text: ids, attributes, errors,
// reasons, actors. Every output form passes it through this package's
// sanitizer at render time. The C0 and C1 controls, DEL, the bidi and
// direction marks (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069)
// and the line and paragraph separators (U+2028, U+2029) are shown
// escaped, never emitted: \x1b for a rune below U+0080 (and for a byte
// that is not UTF-8), \u202e above. Text keeps newlines and tabs, for
// multi-line output; Line, for a table cell or a one-line message, turns
// every run of blanks holding a tab, newline or carriage return into one
// space. Cap and LineCap bound a value's size with a "… N bytes more"
// marker; Clip bounds its width in terminal cells. A backslash is left as
// it is: an escape is for the operator's eyes, and nothing can leave the
// sanitizer raw. JSON writes the same set as \uXXXX escapes and never
// truncates.
//
// # Queue state, and its one ranking
//
// A queue shows one state word, chosen by QueueState in this order:
//
//	STALLED > PAUSED > starved > flowing
//
// STALLED (work and free capacity, no progress for health.stall_after) is
// never hidden behind a lesser word: it is the condition that pages, and
// an operator scanning for it must find it whatever else is true of the
// queue. PAUSED comes next: a deliberate pause of the queue, or of the
// team its head needs, is not a stall (the monitor never marks it stalled;
// it warns and pages no one), but it stops routing, so it outranks the
// conditions that only slow it. Its status names who paused and why when
// the store knows, and a broken head waiting behind the pause, as in
// "PAUSED · head 1042 missing_revision", so that resuming does not walk
// into a stall unawares. starved (no free capacity for the head) is a
// capacity problem, not a routing one, and only warns. flowing is the
// rest. The State values leave room between starved and flowing for a
// "behind" word (no engine pass has reached the queue yet).
//
// # Health, times, ages, counts
//
// Health is shown with its symbol, never by colour alone: "✖ CRIT",
// "▲ WARN", "● OK"; the monitoring check line uses OK, WARNING, CRITICAL
// and UNKNOWN. Times are UTC with a trailing Z (2006-01-02 15:04:05Z, or
// 15:04:05Z for a time of day); ages and durations fit five cells (45s,
// 9m59s, 15m, 9h59m, 23h, 12d); counts fit six (999999, 1234k, 12M).
package present
