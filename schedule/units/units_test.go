package units

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/yaml"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/schedule"
)

var schedules = []*config.Schedule{
	{Name: "rebuild", Every: config.Every2w, Weekday: time.Sunday, Hour: 2, Zone: "Europe/Berlin",
		Start: config.Date{Year: 2026, Month: time.January, Day: 4}},
	{Name: "weekly", Every: config.Every1w, Weekday: time.Saturday, Hour: 23, Minute: 30, Zone: "America/New_York"},
	{Name: "four", Every: config.Every4w, Weekday: time.Wednesday, Hour: 4, Zone: "UTC"},
	{Name: "first", Every: config.EveryMonthly, MonthWeek: 1, Weekday: time.Sunday, Hour: 2, Zone: "Europe/Berlin"},
	{Name: "third", Every: config.EveryMonthly, MonthWeek: 3, Weekday: time.Tuesday, Hour: 12, Zone: "UTC"},
	{Name: "last", Every: config.EveryMonthly, MonthWeek: -1, Weekday: time.Friday, Hour: 22, Zone: "Asia/Tokyo"},
	{Name: "day15", Every: config.EveryMonthly, MonthDay: 15, Hour: 3, Zone: "UTC"},
	{Name: "day31", Every: config.EveryMonthly, MonthDay: 31, Hour: 3, Minute: 5, Zone: "UTC"},
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		// make test installs it (the Makefile's tools target): there, a missing one is a
		// failure, not a pass that verified nothing.
		if os.Getenv("HARDENCTL_INTEGRATION") == "1" {
			t.Fatal("systemd-analyze is not installed (Debian 12: package systemd; make test installs it): the units cannot be verified")
		}
		t.Skip("systemd-analyze is not installed (Debian 12: package systemd): the units are not verified")
	}
	return p
}

// The units pass systemd-analyze verify, and the timer fires at every one of the next slots
// Slots computes (systemd-analyze calendar, from now: systemd 252 has no --base-time), in
// UTC.
func TestSystemdUnits(t *testing.T) {
	sa := systemdAnalyze(t)
	bin, err := os.Executable() // an executable that exists: verify checks ExecStart's
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range schedules {
		t.Run(s.Name, func(t *testing.T) {
			dir := t.TempDir()
			svc, timer, err := Systemd(Options{Config: "sample", Schedule: s, Binary: bin, ConfigDir: "/etc/hardenctl/sample",
				Cloud: "prod", Env: []string{"HARDENCTL_VAR_ssh_user=debian", "NOTE=50% of $HOME"}})
			if err != nil {
				t.Fatal(err)
			}
			name := Name("sample", s.Name)
			for file, content := range map[string]string{name + ".service": svc, name + ".timer": timer} {
				if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(sa, "verify", filepath.Join(dir, name+".timer"), filepath.Join(dir, name+".service"))
			cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice")
			if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Fatalf("systemd-analyze verify: %v\n%s\n--- %s.timer\n%s--- %s.service\n%s", err, out, name, timer, name, svc)
			}
			first, _ := OnCalendar(s)
			for _, want := range []string{"Persistent=true", "RandomizedDelaySec=120", "OnCalendar=" + first} {
				if !strings.Contains(timer, want+"\n") {
					t.Errorf("timer lacks %q:\n%s", want, timer)
				}
			}
			if !strings.Contains(svc, `"schedule" "run" "`+s.Name+`" "--if-due"`) || !strings.Contains(svc, `"NOTE=50%% of $$HOME"`) {
				t.Errorf("service:\n%s", svc)
			}
			checkCalendar(t, sa, s)
		})
	}
}

var elapse = regexp.MustCompile(`(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC`)

// checkCalendar: the timer's next elapses hold each of the next slots.
func checkCalendar(t *testing.T, sa string, s *config.Schedule) {
	t.Helper()
	const iterations = 80
	first, gap := OnCalendar(s)
	fires := map[string]bool{}
	var last time.Time
	for _, expr := range []string{first, gap} {
		if expr == "" {
			continue
		}
		cmd := exec.Command(sa, "calendar", "--iterations="+strconv.Itoa(iterations), expr)
		cmd.Env = append(os.Environ(), "TZ=UTC")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze calendar %q: %v\n%s", expr, err, out)
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if m := elapse.FindStringSubmatch(sc.Text()); m != nil {
				fires[m[1]] = true
				n++
				if at, _ := time.Parse(time.DateTime, m[1]); expr == first {
					last = at
				}
			}
		}
		if n != iterations {
			t.Fatalf("systemd-analyze calendar %q: %d elapses, want %d:\n%s", expr, n, iterations, out)
		}
	}
	sl, err := schedule.NewSlots(s)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for at := sl.Next(time.Now()); !at.After(last); at = sl.Next(at) {
		if !fires[at.UTC().Format(time.DateTime)] {
			t.Errorf("the timer (OnCalendar=%s, %s) does not fire at the slot %s", first, gap, sl.Format(at))
		}
		n++
	}
	if n < 3 {
		t.Errorf("only %d slots checked", n)
	}
}

// The cron schedule fires at every slot too: checked day by day, as cron matches (minute,
// hour, day of month, weekday; day of month and weekday never both restricted here).
func TestCronCoversSlots(t *testing.T) {
	for _, s := range schedules {
		sl, err := schedule.NewSlots(s)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(Cron(s))
		loc := sl.Location()
		at := sl.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		for range 30 {
			l := at.In(loc)
			if !cronField(f[0], l.Minute()) || !cronField(f[1], l.Hour()) || !cronField(f[2], l.Day()) ||
				f[3] != "*" || !cronField(f[4], int(l.Weekday())) {
				t.Errorf("%s: cron %q does not fire at the slot %s", s.Name, Cron(s), sl.Format(at))
			}
			at = sl.Next(at)
		}
	}
}

func cronField(f string, v int) bool {
	if f == "*" {
		return true
	}
	if list := strings.Split(f, ","); len(list) > 1 {
		for _, e := range list {
			if cronField(e, v) {
				return true
			}
		}
		return false
	}
	lo, hi, isRange := strings.Cut(f, "-")
	if !isRange {
		hi = lo
	}
	a, _ := strconv.Atoi(lo)
	b, _ := strconv.Atoi(hi)
	return a <= v && v <= b
}

// The CronJob manifest decodes strictly as batch/v1: sigs.k8s.io/yaml's UnmarshalStrict (no
// unknown or duplicate fields) and apimachinery's strict YAML serializer with the batch/v1
// scheme.
func TestCronJobDecodesStrictly(t *testing.T) {
	s := schedules[0]
	b, err := CronJobYAML(Options{Config: "sample", Schedule: s, Image: "registry.internal:5000/hardenctl:v0.11.0",
		Namespace: "platform", Cloud: "prod", Env: []string{"HARDENCTL_VAR_ssh_user=debian"}})
	if err != nil {
		t.Fatal(err)
	}
	var cj batchv1.CronJob
	if err := yaml.UnmarshalStrict(b, &cj); err != nil {
		t.Fatalf("UnmarshalStrict: %v\n%s", err, b)
	}
	scheme := runtime.NewScheme()
	if err := batchv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ser := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true})
	obj, gvk, err := ser.Decode(b, nil, nil)
	if err != nil {
		t.Fatalf("strict decode: %v\n%s", err, b)
	}
	if gvk.Group != "batch" || gvk.Version != "v1" || gvk.Kind != "CronJob" {
		t.Errorf("decoded as %s", gvk)
	}
	got := obj.(*batchv1.CronJob)
	spec := got.Spec
	job := spec.JobTemplate.Spec
	pod := job.Template.Spec
	c := pod.Containers[0]
	checks := map[string]bool{
		"name":                  got.Name == "hardenctl-sample-rebuild" && got.Namespace == "platform",
		"weekly cron, DST gap":  spec.Schedule == "0 2,3 * * 0",
		"time zone":             spec.TimeZone != nil && *spec.TimeZone == "Europe/Berlin",
		"concurrency Forbid":    spec.ConcurrencyPolicy == batchv1.ForbidConcurrent,
		"history limits":        *spec.SuccessfulJobsHistoryLimit == 3 && *spec.FailedJobsHistoryLimit == 5,
		"no retries":            *job.BackoffLimit == 0,
		"run --if-due":          strings.Join(c.Args, " ") == "-C /etc/hardenctl/config schedule run rebuild --if-due",
		"config from ConfigMap": pod.Volumes[0].ConfigMap != nil && pod.Volumes[0].ConfigMap.Name == "hardenctl-sample-rebuild-config",
		"clouds from Secret":    pod.Volumes[1].Secret != nil && pod.Volumes[1].Secret.SecretName == "hardenctl-sample-rebuild-clouds",
		"read-only, non-root":   *c.SecurityContext.ReadOnlyRootFilesystem && *pod.SecurityContext.RunAsNonRoot,
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("CronJob: %s is wrong:\n%s", what, b)
		}
	}
	// a field that batch/v1 does not have is refused by the strict decoders
	bad := bytes.Replace(b, []byte("concurrencyPolicy: Forbid"), []byte("concurrencyPolicy: Forbid\n  concurrency: 1"), 1)
	if err := yaml.UnmarshalStrict(bad, &cj); err == nil {
		t.Errorf("UnmarshalStrict took an unknown field")
	}
	if _, _, err := ser.Decode(bad, nil, nil); err == nil {
		t.Errorf("the strict serializer took an unknown field")
	}
}

func TestOptionsRefused(t *testing.T) {
	s := schedules[0]
	if _, _, err := Systemd(Options{Config: "sample", Schedule: s, Binary: "hardenctl", ConfigDir: "/etc"}); err == nil {
		t.Errorf("a relative binary path was taken")
	}
	if _, _, err := Systemd(Options{Config: "sample", Schedule: s, Binary: "/bin/true", ConfigDir: "/etc", Env: []string{"A=b\nExecStartPre=/bin/rm"}}); err == nil {
		t.Errorf("an environment value with a newline was taken")
	}
	if _, err := CronJob(Options{Config: "sample", Schedule: s}); err == nil {
		t.Errorf("a CronJob without an image was made")
	}
}
