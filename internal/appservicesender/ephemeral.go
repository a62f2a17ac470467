package appservicesender

import "slices"

// addDeviceListsLocked merges device-list changes into those waiting.
func (w *worker) addDeviceListsLocked(changed, left []string) {
	if w.devices == nil {
		w.devices = &DeviceLists{}
	}
	for _, u := range changed {
		if !slices.Contains(w.devices.Changed, u) {
			w.devices.Changed = append(w.devices.Changed, u)
		}
	}
	for _, u := range left {
		if !slices.Contains(w.devices.Left, u) {
			w.devices.Left = append(w.devices.Left, u)
		}
	}
}
