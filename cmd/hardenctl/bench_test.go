package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenctl/hardenctl/provider/openstack"
)

const neutronHost = "127.0.0.1:9696"

// zonesConfig writes a configuration of `zones` zones behind a bastion; each zone accepts
// 443 and 8443 from cidrs networks, so it holds 2*cidrs + 2 (SSH from the bastion, IPv4 and
// IPv6) rules.
func zonesConfig(b *testing.B, name string, zones, cidrs int) string {
	var s strings.Builder
	fmt.Fprintf(&s, "name = %q\n\nbastion {\n  allow_from = [\"198.51.100.0/24\"]\n}\n", name)
	for z := 0; z < zones; z++ {
		var from []string
		for c := 0; c < cidrs; c++ {
			from = append(from, fmt.Sprintf("%q", fmt.Sprintf("10.%d.%d.0/24", z, c)))
		}
		fmt.Fprintf(&s, "\nzone \"z%02d\" {\n  ingress {\n    from  = [%s]\n    ports = [443, 8443]\n  }\n}\n", z, strings.Join(from, ", "))
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkZones measures, on the test bed, the first apply and a no-change plan of 20
// zones with about 200 and about 1,000 rules, and counts the Neutron requests each sends
// (make bench; scripts/bench-zones.sh). Run it with -benchtime 1x: every iteration builds
// and destroys a whole platform.
func BenchmarkZones(b *testing.B) {
	integration(b)
	for _, cidrs := range []int{4, 24} {
		zones := 20
		rules := zones*(2*cidrs+2) + zones*2 + 1 // zones, then the bastion's
		b.Run(fmt.Sprintf("zones=%d/rules=%d", zones, rules), func(b *testing.B) {
			var applyTime, planTime time.Duration
			var applyReq, planReq, ruleReq, groupReq int
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				name := fmt.Sprintf("bench%d", time.Now().UnixNano()%1e9)
				dir := zonesConfig(b, name, zones, cidrs)
				counter := &openstack.CountingTransport{}
				b.StartTimer()

				start := time.Now()
				r := runCLI(b, "", counter, "-C", dir, "apply", "-cloud", "demo", "-auto-approve", "-concurrency", "4")
				applyTime += time.Since(start)
				if r.code != 0 {
					b.Fatalf("apply: %s%s", r.stdout, r.stderr)
				}
				applyReq += counter.Count(neutronHost)
				ruleReq += counter.Route("POST /v2.0/security-group-rules") + counter.Route("DELETE /v2.0/security-group-rules/{id}")
				groupReq += zones + 1

				counter.Reset()
				start = time.Now()
				r = runCLI(b, "", counter, "-C", dir, "plan", "-cloud", "demo", "-detailed-exitcode")
				planTime += time.Since(start)
				if r.code != 0 {
					b.Fatalf("no-change plan: code %d\n%s%s", r.code, r.stdout, r.stderr)
				}
				planReq += counter.Count(neutronHost)

				b.StopTimer()
				if r := runCLI(b, "", nil, "-C", dir, "destroy", "-cloud", "demo", "-auto-approve"); r.code != 0 {
					b.Fatalf("destroy: %s%s", r.stdout, r.stderr)
				}
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(applyTime.Seconds()/n, "apply-s")
			b.ReportMetric(float64(applyReq)/n, "apply-neutron-req")
			b.ReportMetric(float64(ruleReq)/float64(groupReq), "rule-req/group")
			b.ReportMetric(planTime.Seconds()/n, "plan-s")
			b.ReportMetric(float64(planReq)/n, "plan-neutron-req")
		})
	}
}

// BenchmarkFleetApply boots a fleet of 20 servers with apply, one at a time and 8 at a
// time, and reports the wall time of each (the destroy that follows is not timed). The
// image is the test bed's sample image unless HARDENCTL_TEST_IMAGE says otherwise
// (debian-12-base on network platform makes every server a real host).
func BenchmarkFleetApply(b *testing.B) {
	integration(b)
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("servers=20/concurrency=%d", conc), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				name := fmt.Sprintf("fb%d", time.Now().UnixNano()%1e9)
				dir := b.TempDir()
				writeFleetConfig(b, dir, name, 20)
				b.StartTimer()
				start := time.Now()
				r := runCLI(b, "", nil, "-C", dir, "apply", "-cloud", "demo", "-auto-approve", "-server-concurrency", fmt.Sprint(conc))
				total += time.Since(start)
				b.StopTimer()
				if r.code != 0 {
					b.Fatalf("apply: %s%s", r.stdout, r.stderr)
				}
				if d := runCLI(b, "", nil, "-C", dir, "destroy", "-cloud", "demo", "-auto-approve", "-server-concurrency", "8"); d.code != 0 {
					b.Fatalf("destroy: %s%s", d.stdout, d.stderr)
				}
				b.StartTimer()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "apply-s")
		})
	}
}
