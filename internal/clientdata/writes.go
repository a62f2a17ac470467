package clientdata

// Write describes a stored receipt or account data change, for whoever
// must react to it (sync wakes the long-polls concerned).
type Write struct {
	Pos    int64
	UserID string
	// RoomID is "" for global account data.
	RoomID string
	// RoomWide is true when every member of RoomID should hear of it.
	RoomWide bool
}

// OnWrite registers f to hear of every stored write, after it is stored
// and before its stream position is released. Register before serving;
// f must be quick.
func (s *Service) OnWrite(f func(Write)) { s.onWrite = append(s.onWrite, f) }

func (s *Service) written(w Write) {
	for _, f := range s.onWrite {
		f(w)
	}
}
