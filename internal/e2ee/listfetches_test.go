package e2ee

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Askers of a list while its fetch runs wait for that fetch and get its
// answer; a later asker fetches anew.
func TestListFetchesShareOneFetch(t *testing.T) {
	f := listFetches{byUser: map[string]*listFetch{}}
	release := make(chan struct{})
	var calls atomic.Int32
	fetch := func() (RemoteDeviceList, error) {
		calls.Add(1)
		<-release
		return RemoteDeviceList{UserID: "@u:remote", Devices: []RemoteDevice{{DeviceID: "D"}}}, nil
	}
	started := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]RemoteDeviceList, 5)
	wg.Add(1)
	go func() {
		defer wg.Done()
		close(started)
		results[0], _ = f.do(context.Background(), "@u:remote", fetch)
	}()
	<-started
	for calls.Load() == 0 {
	}
	for i := 1; i < 5; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i], _ = f.do(context.Background(), "@u:remote", fetch)
		}(i)
	}
	// Time for the others to reach the running fetch and wait on it.
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d fetches for five concurrent askers, want 1", n)
	}
	for i, r := range results {
		if len(r.Devices) != 1 {
			t.Errorf("asker %d got %+v", i, r)
		}
	}
	release = make(chan struct{})
	close(release)
	if _, err := f.do(context.Background(), "@u:remote", fetch); err != nil || calls.Load() != 2 {
		t.Fatalf("a later asker: %d fetches, %v", calls.Load(), err)
	}
}
