// Package units writes what runs a schedule unattended: a systemd service and timer, or a
// Kubernetes CronJob (from the k8s.io/api batch/v1 types, not hand-written YAML). Both only
// call `hardenctl schedule run NAME --if-due` at (or a little more often than) the schedule's
// slots; that command decides whether a run is due (schedule.Slots.Decide), so "every two
// weeks", which neither OnCalendar nor cron can say, is a weekly timer.
package units

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/hardenctl/hardenctl/config"
	"github.com/hardenctl/hardenctl/schedule"
)

// Options say how the units call hardenctl.
type Options struct {
	Config   string // the configuration's name (unit and object names)
	Schedule *config.Schedule
	// Binary and ConfigDir are absolute paths on the scheduler's host (systemd).
	Binary    string
	ConfigDir string
	Cloud     string   // clouds.yaml entry (OS_CLOUD); empty: the configuration's cloud block
	Env       []string // more NAME=value for the service (HARDENCTL_VAR_*, OS_CLIENT_CONFIG_FILE)
	// RandomizedDelay spreads the start of many schedulers (systemd RandomizedDelaySec);
	// default DefaultRandomizedDelay.
	RandomizedDelay time.Duration
	// Timeout bounds one run (TimeoutStartSec, activeDeadlineSeconds); default DefaultTimeout.
	Timeout time.Duration

	// The CronJob's: its image (hardenctl with the content), namespace, the ConfigMap holding
	// the configuration's *.hcl files and the Secret holding clouds.yaml.
	Image     string
	Namespace string
	ConfigMap string // default NAME-config
	Secret    string // default NAME-clouds
}

// Defaults.
const (
	DefaultRandomizedDelay = 2 * time.Minute
	DefaultTimeout         = 12 * time.Hour
)

// Name is the units' name: hardenctl-CONFIG-SCHEDULE (a valid unit and Kubernetes name: the
// names of configurations and schedules are lower case, '_' becomes '-').
func Name(configName, schedule string) string {
	return strings.ReplaceAll("hardenctl-"+configName+"-"+schedule, "_", "-")
}

// inGap says whether a slot of the next ten years falls in a DST gap (its wall time does not
// exist that day, and the slot is the instant the clocks reach it). systemd and cron both skip
// such a wall time (systemd 252 fires a week later); the units then also fire an hour later,
// and the run decides.
func inGap(s *config.Schedule) bool {
	sl, err := schedule.NewSlots(s)
	if err != nil || s.Hour == 23 {
		return false
	}
	now := time.Now()
	for at := sl.Next(now); at.Before(now.AddDate(10, 0, 0)); at = sl.Next(at) {
		if h, m, _ := at.In(sl.Location()).Clock(); h != s.Hour || m != s.Minute {
			return true
		}
	}
	return false
}

// OnCalendar is the systemd calendar expression of the timer: each slot's weekday or days of
// the month at the slot's time in its zone. It fires at every slot and, where the slots are
// no calendar pattern (every 2w or 4w, the Nth weekday, the 29th-31st, a slot in a DST gap),
// more often: the run decides. A second expression, when not empty, is the same an hour later
// (for DST gaps).
func OnCalendar(s *config.Schedule) (string, string) {
	first := onCalendar(s, s.Hour)
	if inGap(s) {
		return first, onCalendar(s, s.Hour+1)
	}
	return first, ""
}

func onCalendar(s *config.Schedule, hour int) string {
	tod := fmt.Sprintf("%02d:%02d:00 %s", hour, s.Minute, s.Zone)
	wd := s.Weekday.String()[:3]
	if s.Every != config.EveryMonthly {
		return fmt.Sprintf("%s *-*-* %s", wd, tod)
	}
	switch {
	case s.MonthWeek > 0:
		first := 1 + 7*(s.MonthWeek-1)
		return fmt.Sprintf("%s *-*-%02d..%02d %s", wd, first, first+6, tod)
	case s.MonthWeek < 0:
		return fmt.Sprintf("%s *-*-22..31 %s", wd, tod)
	case s.MonthDay <= 28:
		return fmt.Sprintf("*-*-%02d %s", s.MonthDay, tod)
	default: // clamped to the month's last day: the last four days, the run decides
		return fmt.Sprintf("*-*-28..31 %s", tod)
	}
}

// Cron is the CronJob's schedule (with TimeZone set to the schedule's zone), by the same rule:
// cron's day-of-month and day-of-week are or-ed, so the Nth weekday is the days it may fall on.
func Cron(s *config.Schedule) string {
	hours := fmt.Sprint(s.Hour)
	if inGap(s) {
		hours = fmt.Sprintf("%d,%d", s.Hour, s.Hour+1)
	}
	if s.Every != config.EveryMonthly {
		return fmt.Sprintf("%d %s * * %d", s.Minute, hours, int(s.Weekday))
	}
	var days string
	switch {
	case s.MonthWeek > 0:
		first := 1 + 7*(s.MonthWeek-1)
		days = fmt.Sprintf("%d-%d", first, first+6)
	case s.MonthWeek < 0:
		days = "22-31"
	case s.MonthDay <= 28:
		days = fmt.Sprint(s.MonthDay)
	default:
		days = "28-31"
	}
	return fmt.Sprintf("%d %s %s * *", s.Minute, hours, days)
}

// runArgs are the arguments of the command the units run.
func runArgs(configDir, schedule string) []string {
	return []string{"-C", configDir, "schedule", "run", schedule, "--if-due"}
}

var envPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func (o Options) check() error {
	if o.Schedule == nil || o.Config == "" {
		return fmt.Errorf("no schedule or configuration name")
	}
	for _, e := range o.Env {
		if !envPattern.MatchString(e) || strings.ContainsAny(e, "\n\x00") {
			return fmt.Errorf("environment %q is not NAME=value on one line", e)
		}
	}
	return nil
}

func (o Options) delays() (time.Duration, time.Duration) {
	d, t := o.RandomizedDelay, o.Timeout
	if d <= 0 {
		d = DefaultRandomizedDelay
	}
	if t <= 0 {
		t = DefaultTimeout
	}
	return d, t
}

// systemdQuote quotes a word of ExecStart= or Environment= (systemd.syntax(7)): double quotes,
// with backslash, double quote and the specifier % escaped.
func systemdQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, "$", "$$")
	return `"` + r.Replace(s) + `"`
}

// Systemd returns the service and timer units (their file contents).
func Systemd(o Options) (service, timer string, err error) {
	if err := o.check(); err != nil {
		return "", "", err
	}
	if !strings.HasPrefix(o.Binary, "/") || !strings.HasPrefix(o.ConfigDir, "/") {
		return "", "", fmt.Errorf("the binary %q and the configuration %q must be absolute paths", o.Binary, o.ConfigDir)
	}
	s := o.Schedule
	delay, timeout := o.delays()
	name := Name(o.Config, s.Name)
	exec := []string{systemdQuote(o.Binary)}
	for _, a := range runArgs(o.ConfigDir, s.Name) {
		exec = append(exec, systemdQuote(a))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s.service, written by hardenctl schedule install %s --systemd\n", name, s.Name)
	fmt.Fprintf(&b, "[Unit]\nDescription=hardenctl schedule %s of configuration %s (runs when a slot is due)\n", s.Name, o.Config)
	b.WriteString("Documentation=man:systemd.timer(5)\nWants=network-online.target\nAfter=network-online.target\n\n")
	b.WriteString("[Service]\nType=oneshot\n")
	fmt.Fprintf(&b, "ExecStart=%s\n", strings.Join(exec, " "))
	if o.Cloud != "" {
		fmt.Fprintf(&b, "Environment=%s\n", systemdQuote("OS_CLOUD="+o.Cloud))
	}
	for _, e := range o.Env {
		fmt.Fprintf(&b, "Environment=%s\n", systemdQuote(e))
	}
	// a run may take hours (builds, rollouts); SIGINT lets hardenctl clean up as on Ctrl-C
	fmt.Fprintf(&b, "TimeoutStartSec=%d\nKillSignal=SIGINT\nTimeoutStopSec=600\n", int(timeout.Seconds()))
	b.WriteString("NoNewPrivileges=yes\nPrivateTmp=yes\n")
	service = b.String()

	b.Reset()
	fmt.Fprintf(&b, "# %s.timer, written by hardenctl schedule install %s --systemd\n", name, s.Name)
	every := map[string]string{config.Every1w: "every week", config.Every2w: "every 2 weeks", config.Every4w: "every 4 weeks", config.EveryMonthly: "monthly"}[s.Every]
	fmt.Fprintf(&b, "[Unit]\nDescription=hardenctl schedule %s of configuration %s, %s\n\n", s.Name, o.Config, every)
	b.WriteString("[Timer]\n")
	if s.Weeks() > 1 || (s.Every == config.EveryMonthly && (s.MonthWeek != 0 || s.MonthDay > 28)) {
		b.WriteString("# fires on every day a slot may fall on; schedule run --if-due decides whether one is due\n")
	}
	first, gap := OnCalendar(s)
	fmt.Fprintf(&b, "OnCalendar=%s\n", first)
	if gap != "" {
		b.WriteString("# a slot falls in a DST gap, which systemd skips: also an hour later\n")
		fmt.Fprintf(&b, "OnCalendar=%s\n", gap)
	}
	// a slot missed while the host was down fires once at boot; --if-due catches it up once
	fmt.Fprintf(&b, "Persistent=true\nRandomizedDelaySec=%d\nAccuracySec=1s\n", int(delay.Seconds()))
	fmt.Fprintf(&b, "Unit=%s.service\n\n[Install]\nWantedBy=timers.target\n", name)
	return service, b.String(), nil
}

// Mount points in the CronJob's pod.
const (
	podConfigDir = "/etc/hardenctl/config"
	podCloudsDir = "/etc/openstack"
	podWorkDir   = "/var/lib/hardenctl"
)

// CronJob returns the Kubernetes CronJob running the schedule: one pod at a time
// (concurrencyPolicy Forbid: the cloud lock also keeps two schedulers apart), no retries
// (a failed run is recorded; the next slot runs again), the configuration from a ConfigMap,
// clouds.yaml from a Secret, a non-root, read-only container.
func CronJob(o Options) (*batchv1.CronJob, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Image == "" {
		return nil, fmt.Errorf("no container image for the CronJob")
	}
	s := o.Schedule
	_, timeout := o.delays()
	name := Name(o.Config, s.Name)
	cm, secret := o.ConfigMap, o.Secret
	if cm == "" {
		cm = name + "-config"
	}
	if secret == "" {
		secret = name + "-clouds"
	}
	env := []corev1.EnvVar{
		{Name: "OS_CLIENT_CONFIG_FILE", Value: podCloudsDir + "/clouds.yaml"},
		{Name: "HOME", Value: podWorkDir},
		// the pod's name is the record's host
		{Name: "HOSTNAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}
	if o.Cloud != "" {
		env = append(env, corev1.EnvVar{Name: "OS_CLOUD", Value: o.Cloud})
	}
	for _, e := range o.Env {
		k, v, _ := strings.Cut(e, "=")
		env = append(env, corev1.EnvVar{Name: k, Value: v})
	}
	labels := map[string]string{
		"app.kubernetes.io/name":       "hardenctl",
		"app.kubernetes.io/component":  "schedule",
		"app.kubernetes.io/instance":   name,
		"app.kubernetes.io/managed-by": "hardenctl",
	}
	zone := s.Zone
	no, yes := false, true
	uid := int64(65532)
	starting := int64(6 * 3600) // like Persistent=true: a start missed by up to 6 h still runs
	deadline := int64(timeout.Seconds())
	success, failed := int32(3), int32(5)
	backoff := int32(0)
	cj := &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: labels},
		Spec: batchv1.CronJobSpec{
			Schedule:                   Cron(s),
			TimeZone:                   &zone,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    &starting,
			SuccessfulJobsHistoryLimit: &success,
			FailedJobsHistoryLimit:     &failed,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: batchv1.JobSpec{
					BackoffLimit:          &backoff,
					ActiveDeadlineSeconds: &deadline,
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec: corev1.PodSpec{
							RestartPolicy: corev1.RestartPolicyNever,
							SecurityContext: &corev1.PodSecurityContext{
								RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid,
								SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
							},
							Containers: []corev1.Container{{
								Name:  "hardenctl",
								Image: o.Image,
								Args:  runArgs(podConfigDir, s.Name),
								Env:   env,
								VolumeMounts: []corev1.VolumeMount{
									{Name: "config", MountPath: podConfigDir, ReadOnly: true},
									{Name: "clouds", MountPath: podCloudsDir, ReadOnly: true},
									{Name: "work", MountPath: podWorkDir},
									{Name: "tmp", MountPath: "/tmp"},
								},
								SecurityContext: &corev1.SecurityContext{
									AllowPrivilegeEscalation: &no,
									ReadOnlyRootFilesystem:   &yes,
									Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
								},
							}},
							Volumes: []corev1.Volume{
								{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
									LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}},
								{Name: "clouds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
									SecretName: secret, Items: []corev1.KeyToPath{{Key: "clouds.yaml", Path: "clouds.yaml"}}}}},
								{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
								{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
							},
						},
					},
				},
			},
		},
	}
	return cj, nil
}

// CronJobYAML is the CronJob as a manifest (kubectl apply -f).
func CronJobYAML(o Options) ([]byte, error) {
	cj, err := CronJob(o)
	if err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(cj)
	if err != nil {
		return nil, fmt.Errorf("encode the CronJob: %w", err)
	}
	return append([]byte(fmt.Sprintf("# %s: written by hardenctl schedule install %s --cronjob\n", cj.Name, o.Schedule.Name)), b...), nil
}
