package e2ee

import (
	"encoding/json"
	"maps"
	"reflect"
)

// SameKeyButSignatures reports whether two uploads of one key ID carry
// the same key: equal once their signatures are set aside, since a
// client may sign a key again when it repeats an upload (as Synapse
// compares them).
func SameKeyButSignatures(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xo, xok := x.(map[string]any)
	yo, yok := y.(map[string]any)
	if !xok || !yok {
		return reflect.DeepEqual(x, y)
	}
	xo, yo = maps.Clone(xo), maps.Clone(yo)
	delete(xo, "signatures")
	delete(yo, "signatures")
	return reflect.DeepEqual(xo, yo)
}
