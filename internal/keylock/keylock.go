// Package keylock serialises work per key (a user, say) with a fixed set
// of mutexes: keys hash onto 64 stripes, so memory stays bounded and two
// keys rarely wait for each other.
package keylock

import (
	"hash/fnv"
	"sync"
)

// Striped is a set of mutexes keyed by string. The zero value is ready.
type Striped struct {
	stripes [64]sync.Mutex
}

// Lock locks key's stripe and returns its unlock.
func (l *Striped) Lock(key string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	m := &l.stripes[h.Sum32()%uint32(len(l.stripes))]
	m.Lock()
	return m.Unlock
}
