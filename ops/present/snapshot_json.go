package present

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/routeops/routeops/ops"
)

// orgsMarker is where the orgs array sits in the indented document of a
// snapshot without orgs. It is unique: any such text inside a string would
// have its quotes escaped.
var orgsMarker = []byte(`"orgs": []`)

// SnapshotJSON writes a snapshot as JSON, byte for byte what JSON writes
// for it, but streamed: the head, then each org as it is encoded, so that
// the whole document never sits in memory (tens of megabytes over tens of
// thousands of orgs) and the first bytes go out at once.
func SnapshotJSON(w io.Writer, s *ops.Snapshot) error {
	head := *s
	head.Orgs = []ops.OrgHealth{}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&head); err != nil {
		return err
	}
	doc := buf.Bytes()
	i := bytes.Index(doc, orgsMarker)
	if i < 0 {
		return errors.New("present: the snapshot's JSON has no orgs array")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.Write(EscapeJSON(doc[:i+len(orgsMarker)-1])); err != nil {
		return err
	}
	var org bytes.Buffer
	oenc := json.NewEncoder(&org)
	oenc.SetIndent("    ", "  ")
	for k := range s.Orgs {
		org.Reset()
		if k > 0 {
			org.WriteByte(',')
		}
		org.WriteString("\n    ")
		if err := oenc.Encode(&s.Orgs[k]); err != nil {
			return err
		}
		b := bytes.TrimSuffix(org.Bytes(), []byte("\n"))
		if _, err := bw.Write(EscapeJSON(b)); err != nil {
			return err
		}
	}
	if len(s.Orgs) > 0 {
		if _, err := bw.WriteString("\n  "); err != nil {
			return err
		}
	}
	if _, err := bw.Write(EscapeJSON(doc[i+len(orgsMarker)-1:])); err != nil {
		return err
	}
	return bw.Flush()
}
