package clientdata

// OnPublicReceipt registers f to hear of every stored public read receipt
// (m.read, never m.read.private), local or received, so that local
// users' receipts can be sent to the other servers of the room. Register
// before serving; f must be quick and must not call back into the
// service.
func (s *Service) OnPublicReceipt(f func(Receipt)) {
	s.onPublicReceipt = append(s.onPublicReceipt, f)
}

func (s *Service) publicReceiptStored(r Receipt) {
	if r.Type != ReceiptRead {
		return
	}
	for _, f := range s.onPublicReceipt {
		f(r)
	}
}
