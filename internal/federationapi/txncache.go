package federationapi

import (
	"container/list"
	"sync"
)

// txnCacheSize is how many answered transactions are remembered: an
// origin retries a transaction it got no answer to, soon and before its
// next one, so the recent ones are enough.
const txnCacheSize = 4096

// txnCache remembers the answers to recent transactions by origin and
// transaction ID, the least recently answered forgotten first, so a
// retried transaction gets the same answer without being processed again.
type txnCache struct {
	mu    sync.Mutex
	order *list.List // of txnKey, most recent at the front
	byKey map[txnKey]*list.Element
	max   int
}

type txnKey struct{ origin, txnID string }

type txnEntry struct {
	key    txnKey
	answer []byte
}

func newTxnCache(max int) *txnCache {
	return &txnCache{order: list.New(), byKey: map[txnKey]*list.Element{}, max: max}
}

func (c *txnCache) get(origin, txnID string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[txnKey{origin, txnID}]
	if !ok {
		return nil, false
	}
	return el.Value.(*txnEntry).answer, true
}

func (c *txnCache) put(origin, txnID string, answer []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := txnKey{origin, txnID}
	if el, ok := c.byKey[k]; ok {
		el.Value.(*txnEntry).answer = answer
		c.order.MoveToFront(el)
		return
	}
	c.byKey[k] = c.order.PushFront(&txnEntry{key: k, answer: answer})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*txnEntry).key)
	}
}
