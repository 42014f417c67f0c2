// Command tlog-vectors writes C2SP tlog-tiles conformance vectors with Go's own
// golang.org/x/mod/sumdb/tlog (the checksum database's implementation), so Gantry's tiles
// library (tlog/tiles) is checked against an independent implementation, not against itself.
//
//	go run . > ../../test/conformance/tlog/tiles/go-tlog.json
//
// Leaf i's record data is the ASCII text "gantry tiles vector <i>\n". For each tree size it
// records every tile path of the tree (tlog.NewTiles, tlog.Tile.Path) with the SHA-256 of its
// bytes (tlog.ReadTileData) — and the bytes themselves for partial tiles and small trees —,
// the root (tlog.TreeHash), record proofs (tlog.ProveRecord) and tree proofs (tlog.ProveTree).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

type tileVec struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Hex    string `json:"hex,omitempty"`
}

type proofVec struct {
	Index int64    `json:"index"`
	Old   int64    `json:"old,omitempty"`
	Proof []string `json:"proof"`
}

type sizeVec struct {
	Size   int64      `json:"size"`
	Root   string     `json:"root"`
	Tiles  []tileVec  `json:"tiles"`
	Record []proofVec `json:"recordProofs"`
	Tree   []proofVec `json:"treeProofs"`
}

type growVec struct {
	Old   int64    `json:"old"`
	New   int64    `json:"new"`
	Paths []string `json:"paths"`
}

type output struct {
	Tool    string    `json:"tool"`
	Leaf    string    `json:"leaf"`
	Sizes   []sizeVec `json:"sizes"`
	Growths []growVec `json:"growths"`
}

func leaf(i int64) []byte { return []byte(fmt.Sprintf("gantry tiles vector %d\n", i)) }

func hexes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

// picks: a few indices of [0, n) — both ends, tile edges, the middle.
func picks(n int64) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, v := range []int64{0, 1, 255, 256, 257, n / 2, 65535, 65536, n - 2, n - 1} {
		if v >= 0 && v < n && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func main() {
	sizes := []int64{1, 2, 3, 7, 255, 256, 257, 511, 512, 1000, 65535, 65536, 65539, 65536 + 256 + 3}
	maxSize := sizes[len(sizes)-1]
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	out := output{Tool: "golang.org/x/mod/sumdb/tlog v0.43.0", Leaf: "gantry tiles vector <i>\\n"}
	next := 0
	for n := int64(0); n < maxSize; n++ {
		hs, err := tlog.StoredHashes(n, leaf(n), reader)
		if err != nil {
			panic(err)
		}
		stored = append(stored, hs...)
		if n+1 != sizes[next] {
			continue
		}
		size := sizes[next]
		next++
		root, err := tlog.TreeHash(size, reader)
		if err != nil {
			panic(err)
		}
		v := sizeVec{Size: size, Root: hex.EncodeToString(root[:])}
		for _, t := range tlog.NewTiles(height, 0, size) {
			data, err := tlog.ReadTileData(t, reader)
			if err != nil {
				panic(err)
			}
			sum := sha256.Sum256(data)
			tv := tileVec{Path: t.Path(), SHA256: hex.EncodeToString(sum[:])}
			if t.W < 1<<height || size <= 512 {
				tv.Hex = hex.EncodeToString(data)
			}
			v.Tiles = append(v.Tiles, tv)
		}
		for _, r := range picks(size) {
			p, err := tlog.ProveRecord(size, r, reader)
			if err != nil {
				panic(err)
			}
			v.Record = append(v.Record, proofVec{Index: r, Proof: hexes(p)})
		}
		for _, t := range picks(size + 1) {
			if t == 0 {
				continue
			}
			p, err := tlog.ProveTree(size, t, reader)
			if err != nil {
				panic(err)
			}
			v.Tree = append(v.Tree, proofVec{Old: t, Proof: hexes(p)})
		}
		out.Sizes = append(out.Sizes, v)
	}
	for _, g := range [][2]int64{{0, 1}, {1, 256}, {255, 257}, {256, 1000}, {7, 65536}, {1000, 65539}, {65536, 65539}, {65539, 65536 + 256 + 3}} {
		gv := growVec{Old: g[0], New: g[1], Paths: []string{}}
		for _, t := range tlog.NewTiles(height, g[0], g[1]) {
			gv.Paths = append(gv.Paths, t.Path())
		}
		out.Growths = append(out.Growths, gv)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
