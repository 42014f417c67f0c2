// Command sumdb-capture saves, from Go's checksum database (through proxy.golang.org), what a
// test needs to prove one record's inclusion and one tree's consistency offline: the lookup
// response of a module version (its record id, record text and the signed tree note) and the
// latest signed tree note, and exactly the hash tiles Go's own tlog.TileHashReader reads —
// and authenticates against the signed tree hashes — to compute tlog.ProveRecord and
// tlog.ProveTree. The proofs Go computed are written beside them.
//
//	go run ./sumdb-capture -out ../../test/conformance/tlog/tiles/sumdb golang.org/x/mod@v0.43.0
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const base = "https://proxy.golang.org/sumdb/sum.golang.org/"

// the key cmd/go trusts (GOROOT/src/cmd/go/internal/modfetch/key.go)
const key = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

func get(path string) []byte {
	resp, err := http.Get(base + path)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		panic(fmt.Sprintf("GET %s: %d %v", path, resp.StatusCode, err))
	}
	return body
}

// recorder fetches tiles and keeps every one Go asked for.
type recorder struct {
	mu    sync.Mutex
	saved map[string][]byte
}

func (r *recorder) Height() int { return 8 }
func (r *recorder) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		out[i] = get(t.Path())
		r.mu.Lock()
		r.saved[t.Path()] = out[i]
		r.mu.Unlock()
	}
	return out, nil
}
func (r *recorder) SaveTiles([]tlog.Tile, [][]byte) {}

func openTree(msg []byte) tlog.Tree {
	v, err := note.NewVerifier(key)
	if err != nil {
		panic(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		panic(err)
	}
	t, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		panic(err)
	}
	return t
}

func hexes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

func main() {
	out := flag.String("out", "sumdb", "directory to write")
	flag.Parse()
	modver := flag.Arg(0)
	lookup := get("lookup/" + modver)
	latest := get("latest")
	// lookup: "<id>\n<record text>\n<signed tree note>", the record text ending in a blank line
	var id int64
	if _, err := fmt.Sscanf(string(lookup), "%d\n", &id); err != nil {
		panic(err)
	}
	rest := lookup[bytes.IndexByte(lookup, '\n')+1:]
	end := bytes.Index(rest, []byte("\n\n"))
	record := rest[:end+1]
	old := openTree(rest[end+2:])
	cur := openTree(latest)
	rec := &recorder{saved: map[string][]byte{}}
	proof, err := tlog.ProveRecord(old.N, id, tlog.TileHashReader(old, rec))
	if err != nil {
		panic(err)
	}
	if err := tlog.CheckRecord(proof, old.N, old.Hash, id, tlog.RecordHash(record)); err != nil {
		panic(err)
	}
	treeProof, err := tlog.ProveTree(cur.N, old.N, tlog.TileHashReader(cur, rec))
	if err != nil {
		panic(err)
	}
	if err := tlog.CheckTree(treeProof, cur.N, cur.Hash, old.N, old.Hash); err != nil {
		panic(err)
	}
	must(os.MkdirAll(*out, 0o755))
	must(os.WriteFile(filepath.Join(*out, "lookup"), lookup, 0o644))
	must(os.WriteFile(filepath.Join(*out, "latest"), latest, 0o644))
	for p, data := range rec.saved {
		must(os.MkdirAll(filepath.Join(*out, filepath.Dir(p)), 0o755))
		must(os.WriteFile(filepath.Join(*out, p), data, 0o644))
	}
	paths := make([]string, 0, len(rec.saved))
	for p := range rec.saved {
		paths = append(paths, p)
	}
	summary := map[string]any{
		"module": modver, "recordId": id, "record": string(record),
		"lookupTree":  map[string]any{"size": old.N, "root": hex.EncodeToString(old.Hash[:])},
		"latestTree":  map[string]any{"size": cur.N, "root": hex.EncodeToString(cur.Hash[:])},
		"recordProof": hexes(proof), "treeProof": hexes(treeProof),
		"tiles": paths, "verifierKey": key,
	}
	b, _ := json.MarshalIndent(summary, "", " ")
	must(os.WriteFile(filepath.Join(*out, "expected.json"), append(b, '\n'), 0o644))
	fmt.Fprintln(os.Stderr, strings.Join(paths, "\n"))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
