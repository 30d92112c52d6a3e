package storage

import "time"

// AlarmChange returns the alarm change pending in t, for the runtime that
// must learn whether a turn set or removed its object's alarm. changed is
// false when t neither set nor deleted the alarm; otherwise set reports
// whether the alarm is set, to at, or deleted. After Commit or Discard it
// reports no change.
func (t *Txn) AlarmChange() (at time.Time, set, changed bool) {
	t.st.mu.Lock()
	defer t.st.mu.Unlock()
	if t.gen != t.st.gen {
		return time.Time{}, false, false // t ended; its state may serve another Txn
	}
	for i := len(t.st.layers) - 1; i >= 0; i-- {
		if a := t.st.layers[i].alarm; a != nil {
			return a.t, !a.deleted, true
		}
	}
	return time.Time{}, false, false
}
