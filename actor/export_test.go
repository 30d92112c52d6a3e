package actor

// QueuedEvents returns the number of events accepted for the object id and
// not yet finished, or -1 if it is not active.
func QueuedEvents[T any](n *Namespace[T], id ID) int {
	s := n.core.sys
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.table[objKey{n.core.number, id.obj}]
	if a == nil {
		return -1
	}
	return a.pending()
}

// Evicting reports whether the object id is active and being evicted.
func Evicting[T any](n *Namespace[T], id ID) bool {
	s := n.core.sys
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.table[objKey{n.core.number, id.obj}]
	return a != nil && a.stopping
}
