package rooms

import (
	"fmt"
	"testing"
)

func TestPageTokens(t *testing.T) {
	for _, c := range []struct {
		in   string
		want PageToken
		ok   bool
	}{
		{"t12-340", PageToken{Topo: TopoPos{Depth: 12, Stream: 340}, IsTopo: true, Stream: 340}, true},
		{"t3--7", PageToken{Topo: TopoPos{Depth: 3, Stream: -7}, IsTopo: true}, true},
		{"t340", PageToken{Stream: 340}, true},
		{"s340_2_9", PageToken{Stream: 340}, true},
		{"t-1-2", PageToken{}, false},
		{"tx-2", PageToken{}, false},
		{"x", PageToken{}, false},
	} {
		got, ok := ParsePageToken(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("ParsePageToken(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	p := TopoPos{Depth: 5, Stream: 99}
	if got, ok := ParsePageToken(FormatTopoToken(p)); !ok || got.Topo != p {
		t.Errorf("round trip of %+v: %+v", p, got)
	}
}

// A local event names at most maxPrevEvents extremities, the deepest.
func TestPrevExtremities(t *testing.T) {
	var xs []Extremity
	for i := range 25 {
		xs = append(xs, Extremity{EventID: fmt.Sprintf("$%02d", i), Depth: int64(i % 7)})
	}
	prev, rest := prevExtremities(xs)
	if len(prev) != maxPrevEvents || len(rest) != 5 {
		t.Fatalf("split %d/%d", len(prev), len(rest))
	}
	for _, r := range rest {
		if r.Depth > prev[len(prev)-1].Depth {
			t.Errorf("left out %+v, deeper than the shallowest named %+v", r, prev[len(prev)-1])
		}
	}
	if one, none := prevExtremities(xs[:1]); len(one) != 1 || none != nil {
		t.Errorf("one extremity: %v %v", one, none)
	}
}
