package present

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"sync"

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
	if err := encodeOrgs(bw, s.Orgs); err != nil {
		return err
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

// orgChunk is how many orgs one encoding job takes.
const orgChunk = 256

// encodeOrgs writes each org as SnapshotJSON places it in the orgs array.
// Encoding is most of the time `status -o json` takes over a large fleet,
// so chunks of orgs are encoded on every CPU at once and written in order;
// at most two chunks per CPU are in memory at a time.
func encodeOrgs(w io.Writer, orgs []ops.OrgHealth) error {
	type job struct {
		from, to int
		out      chan []byte
		err      error
	}
	workers := min(runtime.GOMAXPROCS(0), (len(orgs)+orgChunk-1)/orgChunk)
	if workers == 0 {
		return nil
	}
	work := make(chan *job)
	inOrder := make(chan *job, 2*workers)
	done := make(chan struct{})
	var wg sync.WaitGroup
	// On an early return (a failed write), stop handing out chunks and
	// wait for the workers, so that none reads orgs after this returns.
	defer func() {
		close(done)
		wg.Wait()
	}()
	go func() {
		defer close(work)
		defer close(inOrder)
		for from := 0; from < len(orgs); from += orgChunk {
			j := &job{from: from, to: min(from+orgChunk, len(orgs)), out: make(chan []byte, 1)}
			select {
			case inOrder <- j:
			case <-done:
				return
			}
			select {
			case work <- j:
			case <-done:
				return
			}
		}
	}()
	for range workers {
		wg.Go(func() {
			for j := range work {
				b, err := encodeOrgRange(orgs, j.from, j.to)
				j.err = err
				j.out <- b
			}
		})
	}
	for j := range inOrder {
		b := <-j.out
		if j.err != nil {
			return j.err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// encodeOrgRange encodes orgs[from:to], each preceded by its separator
// and indentation, escaped.
func encodeOrgRange(orgs []ops.OrgHealth, from, to int) ([]byte, error) {
	var out, org bytes.Buffer
	enc := json.NewEncoder(&org)
	enc.SetIndent("    ", "  ")
	for k := from; k < to; k++ {
		org.Reset()
		if k > 0 {
			org.WriteByte(',')
		}
		org.WriteString("\n    ")
		if err := enc.Encode(&orgs[k]); err != nil {
			return nil, err
		}
		out.Write(EscapeJSON(bytes.TrimSuffix(org.Bytes(), []byte("\n"))))
	}
	return out.Bytes(), nil
}
