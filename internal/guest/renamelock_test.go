package guest

import (
	"testing"
	"time"
)

// A second rename of a guest while one runs learns when that one ends,
// so a repeated request can wait and then finish it.
func TestBeginRenameTellsWhenTheRunningOneEnds(t *testing.T) {
	var s Service
	if ok, _ := s.beginRename("@1:x"); !ok {
		t.Fatal("the first rename did not begin")
	}
	ok, running := s.beginRename("@1:x")
	if ok || running == nil {
		t.Fatal("a second rename began while one runs")
	}
	if ok, _ := s.beginRename("@2:x"); !ok {
		t.Fatal("another guest's rename waits on the first")
	}
	select {
	case <-running:
		t.Fatal("the wait ended before the rename")
	default:
	}
	s.endRename("@1:x")
	select {
	case <-running:
	case <-time.After(time.Second):
		t.Fatal("the wait did not end with the rename")
	}
	if ok, _ := s.beginRename("@1:x"); !ok {
		t.Fatal("a rename could not begin after the first ended")
	}
}
